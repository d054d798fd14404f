"""Consent fixtures: a marketing purpose with its consent text, and a contract purpose that
needs no consent."""

import pytest

from consents import services
from consents.models import Purpose


@pytest.fixture
def newsletter(db):
    purpose = Purpose.objects.create(code="newsletter", title="Рассылка новостей и акций",
                                     is_advertising=True, retention_days=365)
    services.purpose_text_publish(purpose=purpose, text="Я согласен получать новости и акции.")
    return purpose


@pytest.fixture
def contract(db):
    return Purpose.objects.create(code="contract", title="Исполнение договора",
                                  legal_basis=Purpose.LegalBasis.CONTRACT)
