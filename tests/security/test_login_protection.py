"""Login protection: brute-force lockout on the web login and the API token endpoint, TOTP
two-factor for the roles that need it (web and API), and idle sessions ending."""

import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

PASSWORD = "pw"  # tests.factories.make_user's

LOGIN = "/login/"
TOKEN = "/api/v1/auth/token/"


def code_for(device: TOTPDevice) -> str:
    """The code the user's app shows now."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:0{device.digits}d}"


def web_login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


# --- Brute force -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_web_login_locks_a_username_out_after_too_many_failures(anna, limit):
    client = Client()
    for _attempt in range(limit - 1):
        assert web_login(client, "anna", "wrong").status_code == 200
    assert web_login(client, "anna", "wrong").status_code == 429  # the last one allowed
    locked = web_login(client, "anna", PASSWORD)  # even the right password now
    assert locked.status_code == 429
    assert "Слишком много неудачных попыток" in locked.content.decode()
    assert int(locked["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_success_before_the_limit_resets_the_count(anna, limit):
    client = Client()
    for _attempt in range(limit - 1):
        web_login(client, "anna", "wrong")
    assert web_login(client, "anna", PASSWORD).status_code == 302
    client.logout()
    for _attempt in range(limit - 1):
        web_login(client, "anna", "wrong")
    assert web_login(client, "anna", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_another_address_or_user_is_not_locked_with_them(anna, olga, limit):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _attempt in range(limit):
        web_login(attacker, "anna", "wrong")
    assert web_login(attacker, "anna", PASSWORD).status_code == 429
    assert web_login(Client(REMOTE_ADDR="198.51.100.7"), "anna", PASSWORD).status_code == 302
    assert web_login(attacker, "olga", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_api_token_endpoint_locks_out_too_and_answers_json(anna, limit, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": "1000/min"}}
    api = APIClient()
    for _attempt in range(limit - 1):
        assert api.post(TOKEN, {"username": "anna", "password": "x"}, format="json"
                        ).status_code == 400
    api.post(TOKEN, {"username": "anna", "password": "x"}, format="json")
    locked = api.post(TOKEN, {"username": "anna", "password": PASSWORD}, format="json")
    assert locked.status_code == 429
    assert "detail" in locked.json()
    assert "token" not in locked.json()


# --- Two-factor ------------------------------------------------------------------------------


@pytest.fixture
def enforced(settings):
    settings.TWO_FACTOR_REQUIRED = True
    # django-otp slows down guessing (1 s after a wrong code, doubling): tested on its own.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def logged_in(user) -> Client:
    client = Client()
    assert web_login(client, user.username, PASSWORD).status_code == 302
    return client


@pytest.mark.django_db
def test_a_head_sets_up_totp_before_reaching_anything(head_north, enforced):
    client = logged_in(head_north)
    response = client.get("/deals/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/")
    assert client.get("/api/v1/deals/").status_code == 403

    page = client.get("/account/two-factor/?next=/deals/")
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=head_north, confirmed=False)
    wrong = client.post("/account/two-factor/", {"code": "000000", "next": "/deals/"})
    assert wrong.status_code == 400
    device.refresh_from_db()
    assert not device.confirmed
    done = client.post("/account/two-factor/", {"code": code_for(device), "next": "/deals/"})
    assert done.status_code == 302 and done["Location"] == "/deals/"
    assert client.get("/deals/").status_code == 200


@pytest.mark.django_db
def test_the_next_login_asks_for_the_code(head_north, enforced):
    device = TOTPDevice.objects.create(user=head_north, name="app", confirmed=True)
    client = logged_in(head_north)
    assert client.get("/deals/")["Location"].startswith("/account/two-factor/")
    page = client.get("/account/two-factor/").content.decode()
    assert "<svg" not in page  # no new QR code for someone who has not passed the code yet
    assert client.post("/account/two-factor/", {"code": "123456"}).status_code == 400
    assert client.post("/account/two-factor/", {"code": code_for(device)}).status_code == 302
    assert client.get("/deals/").status_code == 200


@pytest.mark.django_db
def test_guessing_codes_is_slowed_down(head_north, settings):
    settings.TWO_FACTOR_REQUIRED = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    device = TOTPDevice.objects.create(user=head_north, name="app", confirmed=True)
    client = logged_in(head_north)
    assert client.post("/account/two-factor/", {"code": "000000"}).status_code == 400
    # Right after a wrong guess even the right code waits.
    assert client.post("/account/two-factor/", {"code": code_for(device)}).status_code == 400
    assert client.get("/deals/").status_code == 302


@pytest.mark.django_db
def test_an_external_next_is_not_followed(head_north, enforced):
    device = TOTPDevice.objects.create(user=head_north, name="app", confirmed=True)
    client = logged_in(head_north)
    response = client.post("/account/two-factor/", {"code": code_for(device),
                                                    "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_managers_need_no_second_factor(anna, enforced):
    assert logged_in(anna).get("/deals/").status_code == 200


@pytest.mark.django_db
def test_the_demo_offers_two_factor_without_enforcing_it(head_north, settings):
    settings.TWO_FACTOR_REQUIRED = False
    client = logged_in(head_north)
    assert client.get("/deals/").status_code == 200
    assert "<svg" in client.get("/account/two-factor/").content.decode()


@pytest.mark.django_db
def test_an_api_token_for_a_head_needs_the_current_code(head_north, enforced):
    api = APIClient()
    no_device = api.post(TOKEN, {"username": "head_north", "password": PASSWORD}, format="json")
    assert no_device.status_code == 403
    device = TOTPDevice.objects.create(user=head_north, name="app", confirmed=True)
    without = api.post(TOKEN, {"username": "head_north", "password": PASSWORD}, format="json")
    assert without.status_code == 400 and "otp" in without.json()
    wrong = api.post(TOKEN, {"username": "head_north", "password": PASSWORD, "otp": "000000"},
                     format="json")
    assert wrong.status_code == 400
    right = api.post(TOKEN, {"username": "head_north", "password": PASSWORD,
                             "otp": code_for(device)}, format="json")
    assert right.status_code == 200 and right.json()["token"]


@pytest.mark.django_db
def test_a_managers_api_token_needs_no_code(anna, enforced):
    response = APIClient().post(TOKEN, {"username": "anna", "password": PASSWORD}, format="json")
    assert response.status_code == 200


# --- Idle sessions ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_idle_session_ends(anna, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    client = logged_in(anna)
    assert client.get("/deals/").status_code == 200
    session = client.session
    session["last_activity"] = int(time.time()) - 61
    session.save()
    response = client.get("/deals/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get("/deals/")["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_background_fetches_do_not_keep_a_session_alive(anna, settings):
    settings.SESSION_IDLE_TIMEOUT = 120
    client = logged_in(anna)
    session = client.session
    session["last_activity"] = int(time.time()) - 100
    session.save()
    client.get("/deals/", HTTP_SEC_FETCH_MODE="cors")  # a page's live update
    assert client.session["last_activity"] <= int(time.time()) - 100
    client.get("/deals/", HTTP_SEC_FETCH_MODE="navigate")  # the person opened a page
    assert client.session["last_activity"] >= int(time.time()) - 2


@pytest.mark.django_db
def test_a_verified_user_sees_the_state_and_moves_to_a_new_app(head_north, enforced):
    device = TOTPDevice.objects.create(user=head_north, name="app", confirmed=True)
    client = logged_in(head_north)
    client.post("/account/two-factor/", {"code": code_for(device)})
    page = client.get("/account/two-factor/").content.decode()
    assert "<svg" not in page and "?setup=1" in page
    assert "<svg" in client.get("/account/two-factor/?setup=1").content.decode()
    new = TOTPDevice.objects.get(user=head_north, confirmed=False)
    assert client.post("/account/two-factor/?setup=1", {"code": code_for(new)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=head_north)) == [new]
