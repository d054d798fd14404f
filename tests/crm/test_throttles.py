"""No scraping: list endpoints are rate-limited per user, token requests per address."""

import pytest
from rest_framework.test import APIClient

from core.api.throttles import ListThrottle, TokenThrottle
from tests.factories import api_for


@pytest.fixture
def tight_limits(monkeypatch):
    monkeypatch.setattr(ListThrottle, "THROTTLE_RATES", {"list": "3/min"})
    monkeypatch.setattr(TokenThrottle, "THROTTLE_RATES", {"token": "2/min"})


def test_a_user_who_pages_too_fast_is_slowed_down(tight_limits, anna, anna_deal):
    api = api_for(anna)
    for _ in range(3):
        assert api.get("/api/v1/deals/").status_code == 200
    response = api.get("/api/v1/contacts/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # Reading one object is not a bulk read: still allowed.
    assert api.get(f"/api/v1/deals/{anna_deal.pk}/").status_code == 200


def test_the_limit_is_per_user(tight_limits, anna, ivan):
    for _ in range(3):
        api_for(anna).get("/api/v1/deals/")
    assert api_for(anna).get("/api/v1/deals/").status_code == 429
    assert api_for(ivan).get("/api/v1/deals/").status_code == 200


def test_timelines_count_as_lists(tight_limits, anna, anna_deal):
    api = api_for(anna)
    for _ in range(3):
        assert api.get(f"/api/v1/deals/{anna_deal.pk}/timeline/").status_code == 200
    assert api.get(f"/api/v1/deals/{anna_deal.pk}/timeline/").status_code == 429


def test_token_requests_are_limited_per_address(tight_limits, anna):
    client = APIClient()
    body = {"username": "anna", "password": "wrong"}
    assert client.post("/api/v1/auth/token/", body, format="json").status_code == 400
    assert client.post("/api/v1/auth/token/", body, format="json").status_code == 400
    right = {"username": "anna", "password": "pw"}
    assert client.post("/api/v1/auth/token/", right, format="json").status_code == 429


def test_a_bad_rate_setting_fails_loudly(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import envrate

    monkeypatch.setenv("API_LIST_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="API_LIST_RATE"):
        envrate("API_LIST_RATE", "120/min")
    monkeypatch.setenv("API_LIST_RATE", "500/hour")
    assert envrate("API_LIST_RATE", "120/min") == "500/hour"


def test_the_list_pages_are_limited_per_user_too(client, anna, ivan, anna_deal, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"list": "3/min", "token": "10/min"},
    }
    client.force_login(anna)
    for url in ("/deals/", "/contacts/", "/deals/board/"):
        assert client.get(url).status_code == 200
    response = client.get("/companies/")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    # A single card is not a list; another user has their own budget.
    assert client.get(f"/deals/{anna_deal.pk}/").status_code == 200
    client.force_login(ivan)
    assert client.get("/deals/").status_code == 200


def test_every_api_view_that_declares_the_list_budget_spends_it():
    """ListThrottle counts only a viewset's list actions and the views that say they return
    rows in bulk: a plain APIView that declares it (the search, the reports, the access log)
    and says neither has a throttle that never counts (the reports' did not, until this
    test)."""
    from tests.routes import site_routes

    silent = []
    for route in site_routes():
        view_class = getattr(route.pattern.callback, "cls", None)
        if view_class is None or getattr(route.pattern.callback, "actions", None):
            continue  # not an APIView, or a viewset (its actions are named per route)
        # Declared by the view itself: every other view has the default, for its lists.
        declared = next((vars(cls)["throttle_classes"] for cls in view_class.__mro__
                         if "throttle_classes" in vars(cls)
                         and not cls.__module__.startswith("rest_framework")), [])
        if any(issubclass(throttle, ListThrottle) for throttle in declared):
            if not ListThrottle().limits(view_class()):
                silent.append(route.name)
    assert not silent, silent


def test_searches_and_reports_spend_the_list_budget(tight_limits, anna):
    api = api_for(anna)
    assert api.get("/api/v1/search/", {"q": "договор"}).status_code == 200
    assert api.get("/api/v1/reports/activity/").status_code == 200
    assert api.get("/api/v1/reports/funnel/").status_code == 200
    assert api.get("/api/v1/search/", {"q": "договор"}).status_code == 429
