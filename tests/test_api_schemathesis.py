"""Schemathesis over the OpenAPI schema, as a manager and as the admin: every operation, with
valid and invalid inputs, answers no 5xx and nothing the schema does not describe (status
code, content type, headers, body).

The schema fuzzed is the one `/api/schema/` serves (test_the_fuzzed_schema_is_the_served_one);
it is generated at import, before pytest-django lets anything reach the database. Requests go
to the WSGI application in process, each with the user's token. A generated path id names
nothing, so an operation with ids is called a second time with the ids of real objects
(the manager's own deal, contact, task...; the alert, the leaver and the export only the admin
may reach), body and query as generated: those calls change real rows.

No operation is left out. Bounded for `make test`: Hypothesis's share (8 examples per operation
and role, derandomized, so every run sends the same cases) beside schemathesis's coverage
phase (boundary and invalid values of each parameter, a fixed set).
"""

import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consents.services import subject_request_register
from crm import services, sharing
from security import exports, offboarding
from security.models import Alert
from tests.factories import make_user
from tests.test_authorization_matrix import _phone_call, _telegram_chat

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
application = get_wsgi_application()

# Everything schemathesis checks of one answer. Left out: the checks that judge the API's
# choices rather than the schema's truth (negative_data_rejection: we ignore unknown query
# parameters and body fields, as DRF does; positive_data_acceptance: a valid body may still
# name an object the user may not see) and those that send requests of their own
# (ignored_auth, use_after_free, ensure_resource_availability).
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def world(anna, ivan, head_north, director, security_officer):
    """Ids of real objects by path segment (`deals` for /deals/{id}/) or parameter name."""
    company = services.company_create(by=anna, name="ООО «Ромашка»",
                                      website="https://romashka.ru")
    services.company_create(by=anna, name="ООО «Без сайта»")
    contact = services.contact_create(by=anna, name="Клиент Анны", company=company,
                                      phones=["+79161112233"], emails=["client@example.ru"])
    deal = services.deal_create(by=anna, title="Сделка Анны", contact=contact, company=company,
                                amount=1000)
    services.deal_create(by=anna, title="Сделка без контакта")
    services.note_add(by=anna, deal=deal, text="Бюджет в марте")
    task = services.task_create(by=anna, title="Позвонить", deal=deal)
    sharing.deal_share(deal=deal, user=ivan, access="read", by=anna)
    conversation, message = _telegram_chat(deal)
    call, _command = _phone_call(deal)
    export = exports.export_request(user=director, resource="deals", fmt="csv", filters={},
                                     ip=None)
    alert = Alert.objects.create(rule="foreign_cards", user=anna, count=30, threshold=30,
                                 window_minutes=10, evidence={"records": []})
    subject_request = subject_request_register(contact=contact, kind="access", source="staff",
                                               by=anna)
    leaver = make_user("leaver", "manager", anna.team)
    offboarding.offboard_user(leaver, head_north, by=director,
                              at=timezone.now() + timezone.timedelta(days=1))
    return {
        "alerts": alert.pk, "calls": call.pk, "companies": company.pk, "contacts": contact.pk,
        "conversations": conversation.pk, "deals": deal.pk,
        "subject-requests": subject_request.pk, "tasks": task.pk, "users": leaver.pk,
        "message_id": message.pk, "user_id": ivan.pk, "export_id": str(export.pk),
    }


@pytest.fixture(params=["manager", "admin"])
def token(request, world, anna, director):
    user = {"manager": anna, "admin": director}[request.param]
    return Token.objects.get_or_create(user=user)[0].key


@pytest.fixture
def one_transaction():
    """Django closes the database connection when a request ends (CONN_MAX_AGE is 0 in the
    tests), which would end the test's transaction; its test client disconnects that handler
    around each request, and we do around the test."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _with_real_ids(case, ids):
    resource = re.match(r"/api/v1/([^/]+)/", case.path).group(1)
    case.path_parameters = {
        name: ids[resource] if name == "id" else ids[name] for name in case.path_parameters
    }
    return case


@pytest.mark.django_db
@schema.parametrize()
# The world is built once per operation and role, and its rows change from example to example:
# on purpose, so function-scoped fixtures are allowed.
@settings(max_examples=5, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_the_api_answers_as_its_schema_says(case, token, world, one_transaction):
    headers = {"Authorization": f"Token {token}", "Accept-Language": "en"}
    case.call_and_validate(app=application, headers=headers, checks=CHECKS)
    if case.path_parameters:
        _with_real_ids(case, world)
        case.call_and_validate(app=application, headers=headers, checks=CHECKS)


def test_the_fuzzed_schema_is_the_served_one(db):
    served = APIClient().get("/api/schema/", {"format": "json"}).json()
    assert served == schema.raw_schema
