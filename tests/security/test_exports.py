"""Export control: who may export, what the file holds, how long it lives."""

import csv
import io
import os
import time
from datetime import timedelta

import openpyxl
import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from crm.models import Deal
from security import exports
from security.models import ExportRequest
from tests.factories import make_contact, make_deal

API = "/api/v1"
EVIL_TITLE = '=HYPERLINK("http://evil","x")'
EVIL_NAMES = ["+1+1", "@SUM(A1)", "-2+3"]


@pytest.fixture
def media(settings):
    return settings.MEDIA_ROOT  # a throwaway folder per test (tests/conftest.py)


def api(user=None) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        token, _created = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def export_via_api(user, resource="deals", fmt="csv", filters=None):
    body = {"resource": resource, "format": fmt}
    if filters is not None:
        body["filters"] = filters
    return api(user).post(f"{API}/exports/", body, format="json")


def download(user, export_id):
    return api(user).get(f"{API}/exports/{export_id}/download/")


def rows_of(content: bytes, fmt: str) -> list[list]:
    if fmt == "csv":
        return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def exported(user, resource="deals", fmt="csv", filters=None) -> tuple[dict, list[list]]:
    """Export through the API and download the file: (the 201 body, the file's rows)."""
    response = export_via_api(user, resource, fmt, filters)
    assert response.status_code == 201, response.content
    body = response.json()
    file = download(user, body["id"])
    assert file.status_code == 200
    return body, rows_of(file.content, fmt)


def cells(rows) -> set:
    return {value for row in rows for value in row}


def export_files(media) -> list:
    directory = media / "exports"
    return list(directory.iterdir()) if directory.exists() else []


@pytest.fixture
def north_deals(anna, ivan, anna_deal):
    return [anna_deal, make_deal(ivan, title="Северный проект")]


# --- Who may export --------------------------------------------------------------------------

DENIED_ROLES = ["anna", "marketer", "support", "security_officer"]


@pytest.mark.parametrize("who", DENIED_ROLES)
def test_roles_without_the_permission_see_no_export_button(request, client, who, anna_deal):
    client.force_login(request.getfixturevalue(who))
    for url in ["/deals/", "/contacts/"]:
        page = client.get(url).content.decode()
        assert "export-form" not in page, url
        assert "/exports/" not in page, url


@pytest.mark.parametrize("who", ["head_north", "director"])
def test_the_head_and_the_admin_see_the_button_on_both_lists(request, client, who, anna_deal):
    client.force_login(request.getfixturevalue(who))
    for url, resource in [("/deals/", "deals"), ("/contacts/", "contacts")]:
        page = client.get(url).content.decode()
        assert 'action="/exports/"' in page, url
        assert f'name="resource" value="{resource}"' in page
        assert 'value="csv"' in page and 'value="xlsx"' in page


def test_the_button_carries_the_lists_filters(client, head_north, anna_deal):
    client.force_login(head_north)
    page = client.get("/deals/?status=open&q=%D0%BF%D0%BE&page=2").content.decode()
    assert '<input type="hidden" name="status" value="open">' in page
    assert '<input type="hidden" name="q" value="по">' in page
    assert 'name="page"' not in page.split("export-form")[1].split("</form>")[0]


@pytest.mark.parametrize("who", DENIED_ROLES)
def test_the_api_refuses_other_roles_and_records_the_attempt(request, media, who, anna_deal):
    user = request.getfixturevalue(who)
    response = export_via_api(user, "contacts", "xlsx", {"q": "Пётр"})
    assert response.status_code == 403
    attempt = ExportRequest.objects.get(user=user)
    assert attempt.status == ExportRequest.Status.DENIED
    assert (attempt.resource, attempt.format) == ("contacts", "xlsx")
    assert attempt.filters == {"q": "Пётр"}
    assert attempt.ip == "127.0.0.1"
    assert attempt.row_count == 0 and attempt.file_path == ""
    assert export_files(media) == []


def test_a_refused_attempt_is_recorded_whatever_its_body(anna):
    response = api(anna).post(
        f"{API}/exports/", {"resource": "everything", "filters": ["x"]}, format="json"
    )
    assert response.status_code == 403
    assert ExportRequest.objects.get(user=anna).status == ExportRequest.Status.DENIED


def test_the_html_export_refuses_other_roles_and_records_the_attempt(client, anna, media):
    client.force_login(anna)
    response = client.post("/exports/", {"resource": "deals", "format": "csv"})
    assert response.status_code == 403
    assert ExportRequest.objects.get(user=anna).status == ExportRequest.Status.DENIED
    assert export_files(media) == []


def test_anonymous_clients_are_sent_away(client, anna_deal):
    assert api().post(f"{API}/exports/", {"resource": "deals"}, format="json").status_code == 401
    response = client.post("/exports/", {"resource": "deals", "format": "csv"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not ExportRequest.objects.exists()


# --- What the file holds ---------------------------------------------------------------------


def test_a_head_exports_only_his_teams_deals(head_north, north_deals, olga_deal):
    body, rows = exported(head_north)
    titles = cells(rows)
    assert {"Поставка серверов", "Северный проект"} <= titles
    assert "Южный склад" not in titles
    assert body["row_count"] == 2 and body["capped"] is False


def test_a_head_exports_only_contacts_he_may_see(head_north, anna_contact, olga_deal):
    _body, rows = exported(head_north, "contacts")
    assert "Пётр Смирнов" in cells(rows)
    assert "Ирина Котова" not in cells(rows)


def test_the_admin_exports_every_team(director, north_deals, olga_deal):
    body, rows = exported(director, fmt="xlsx")
    assert {"Поставка серверов", "Северный проект", "Южный склад"} <= cells(rows)
    assert body["row_count"] == 3


def test_the_export_applies_the_lists_filters(head_north, north_deals):
    Deal.objects.filter(pk=north_deals[1].pk).update(status="won")
    body, rows = exported(head_north, filters={"status": "open", "sort": "amount"})
    assert "Поставка серверов" in cells(rows) and "Северный проект" not in cells(rows)
    assert ExportRequest.objects.get(pk=body["id"]).filters == {"status": "open", "sort": "amount"}


def test_an_export_is_cut_at_the_limit(settings, director, north_deals, olga_deal):
    settings.EXPORT_MAX_ROWS = 2
    body, rows = exported(director)
    assert body["row_count"] == 2 and body["capped"] is True
    titles = {"Поставка серверов", "Северный проект", "Южный склад"}
    assert len(titles & cells(rows)) == 2
    record = ExportRequest.objects.get(pk=body["id"])
    assert (record.row_count, record.capped) == (2, True)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formulas_are_neutralised(fmt, director):
    owner_contacts = [make_contact(director, name=name) for name in EVIL_NAMES]
    make_deal(director, title=EVIL_TITLE, contact=owner_contacts[0])
    _body, deal_rows = exported(director, "deals", fmt)
    _body, contact_rows = exported(director, "contacts", fmt)
    values = cells(deal_rows) | cells(contact_rows)
    assert "'" + EVIL_TITLE in values
    for name in EVIL_NAMES:
        assert "'" + name in values
    dangerous = [
        v for v in values
        if isinstance(v, str) and v[:1] in exports.FORMULA_TRIGGERS
    ]
    assert dangerous == []
    if fmt == "xlsx":
        response = export_via_api(director, "deals", "xlsx")
        sheet = openpyxl.load_workbook(
            io.BytesIO(download(director, response.json()["id"]).content)
        ).active
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


@pytest.mark.parametrize("value", ["\t=1+1", "\r=1+1", " =1+1", "=1", "+7 916", "-1", "@x"])
def test_tabs_returns_and_leading_spaces_do_not_hide_a_formula(value):
    assert exports.neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Иван", "a=b", "", 150000, None])
def test_other_values_pass_unchanged(value):
    assert exports.neutralise(value) == value


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_file_names_its_exporter_and_the_time(fmt, head_north, anna_deal):
    body, rows = exported(head_north, fmt=fmt)
    created = ExportRequest.objects.get(pk=body["id"]).created_at
    head = [value for row in rows[:5] for value in row if value]
    assert any("head_north" in value and "Head_North" in value for value in head)
    assert any(timezone.localtime(created).strftime("%Y-%m-%d %H:%M") in v for v in head)


def test_contact_details_are_shown_as_the_exporter_sees_them(
    head_north, director, anna, anna_deal, olga
):
    # A north deal whose contact belongs to the south team: the head reaches that contact
    # through the deal, and sees its details as a manager would.
    southern = make_contact(olga, name="Южный клиент", phones=["+79035550123"],
                            emails=["south@example.ru"])
    deal = make_deal(anna, title="Северная сделка")
    Deal.objects.filter(pk=deal.pk).update(contact=southern)

    _body, rows = exported(head_north, "deals")
    shown = cells(rows)
    assert "'+79161234567" in shown  # his team's: in full
    assert "+79035550123" not in str(rows) and "south@example.ru" not in str(rows)
    assert "'+7 *** ***-01-23" in shown and "s***@example.ru" in shown

    _body, rows = exported(head_north, "contacts")
    assert "Южный клиент" in cells(rows)
    assert "+79035550123" not in str(rows) and "'+7 *** ***-01-23" in cells(rows)

    _body, rows = exported(director, "contacts")
    assert "'+79035550123" in cells(rows) and "south@example.ru" in cells(rows)


# --- The file's life -------------------------------------------------------------------------


def test_the_api_answers_with_the_export_and_its_link(head_north, anna_deal):
    response = export_via_api(head_north, "deals", "xlsx")
    body = response.json()
    assert response.status_code == 201
    assert body["status"] == "ready" and body["row_count"] == 1 and body["capped"] is False
    assert body["download_url"] == f"http://testserver{API}/exports/{body['id']}/download/"
    record = ExportRequest.objects.get(pk=body["id"])
    assert record.expires_at - record.created_at == timedelta(minutes=15)
    file = download(head_north, body["id"])
    assert file["Content-Type"] == exports.CONTENT_TYPES["xlsx"]
    assert file["Content-Disposition"].startswith('attachment; filename="deals-')
    assert file["Cache-Control"] == "no-store"


def test_the_link_works_once(head_north, anna_deal, media):
    body = export_via_api(head_north).json()
    assert len(export_files(media)) == 1
    assert download(head_north, body["id"]).status_code == 200
    assert download(head_north, body["id"]).status_code == 404
    record = ExportRequest.objects.get(pk=body["id"])
    assert record.status == ExportRequest.Status.DOWNLOADED and record.downloaded_at
    assert export_files(media) == []


def test_the_link_expires_after_15_minutes(head_north, anna_deal, media):
    body = export_via_api(head_north).json()
    past = timezone.now() - timedelta(minutes=16)
    ExportRequest.objects.filter(pk=body["id"]).update(
        created_at=past, expires_at=past + exports.EXPORT_TTL
    )
    assert download(head_north, body["id"]).status_code == 404
    assert ExportRequest.objects.get(pk=body["id"]).status == ExportRequest.Status.EXPIRED
    assert export_files(media) == []


@pytest.mark.parametrize("who", ["director", "olga", "ivan"])
def test_nobody_else_may_download_it(request, who, head_north, anna_deal):
    body = export_via_api(head_north).json()
    other = request.getfixturevalue(who)
    assert download(other, body["id"]).status_code == 404
    client = api(other)
    client.force_authenticate(other)
    assert client.get(f"{API}/exports/{body['id']}/download/").status_code == 404
    assert download(head_north, body["id"]).status_code == 200  # still the requester's


def test_an_unknown_id_is_a_404(head_north):
    assert download(head_north, "7b6f3c62-3d1e-4c55-9a0c-8d9d1f0f6a11").status_code == 404
    assert api(head_north).get(f"{API}/exports/123/download/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        ["deals"],
        {"resource": "everything", "format": "csv"},
        {"resource": "deals", "format": "pdf"},
        {"resource": "deals", "format": "csv", "filters": "status=open"},
        {"resource": "deals", "format": "csv", "filters": {"colour": "red"}},
        {"resource": "deals", "format": "csv", "filters": {"stage": "first"}},
        {"resource": "deals", "format": "csv", "filters": {"status": "maybe"}},
        {"resource": "contacts", "format": "csv", "filters": {"status": "open"}},
        {"format": "csv"},
    ],
)
def test_a_malformed_body_is_a_400(head_north, body, media):
    response = api(head_north).post(f"{API}/exports/", body, format="json")
    assert response.status_code == 400, response.content
    assert not ExportRequest.objects.exclude(status=ExportRequest.Status.DENIED).exists()
    assert export_files(media) == []


def test_the_html_flow_from_the_list_to_the_file(client, head_north, north_deals, olga_deal):
    client.force_login(head_north)
    response = client.post("/exports/", {
        "resource": "deals", "format": "csv", "q": "Поставка", "page": "3",
    })
    export = ExportRequest.objects.get(user=head_north)
    assert response.status_code == 302 and response["Location"] == f"/exports/{export.pk}/"
    assert export.filters == {"q": "Поставка", "sort": "activity"}
    page = client.get(f"/exports/{export.pk}/").content.decode()
    assert f"/exports/{export.pk}/download/" in page
    assert timezone.localtime(export.expires_at).strftime("%H:%M") in page

    file = client.get(f"/exports/{export.pk}/download/")
    assert file.status_code == 200
    titles = cells(rows_of(file.content, "csv"))
    assert "Поставка серверов" in titles and "Северный проект" not in titles
    assert client.get(f"/exports/{export.pk}/download/").status_code == 404
    page = client.get(f"/exports/{export.pk}/").content.decode()
    assert f"/exports/{export.pk}/download/" not in page


def test_the_export_page_is_the_requesters_only(client, head_north, director, anna_deal):
    export = exports.export_request(
        user=head_north, resource="contacts", fmt="xlsx", filters={}, ip=None
    )
    client.force_login(director)
    assert client.get(f"/exports/{export.pk}/").status_code == 404
    assert client.get(f"/exports/{export.pk}/download/").status_code == 404


def test_a_bad_html_post_goes_back_to_the_list_with_a_message(client, head_north):
    client.force_login(head_north)
    response = client.post("/exports/", {"resource": "contacts", "format": "pdf"}, follow=True)
    assert response.redirect_chain[-1][0] == "/contacts/"
    assert not ExportRequest.objects.exists()


def test_the_cleanup_job_deletes_what_nobody_downloaded(head_north, anna_deal, media):
    old = exports.export_request(user=head_north, resource="deals", fmt="csv", filters={}, ip=None)
    fresh = exports.export_request(user=head_north, resource="deals", fmt="csv", filters={},
                                   ip=None)
    past = timezone.now() - timedelta(minutes=20)
    ExportRequest.objects.filter(pk=old.pk).update(created_at=past, expires_at=past)
    orphan = media / "exports" / "0e7e1c1a-0000-4000-8000-000000000000"
    orphan.write_bytes(b"left behind by a crash")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))

    from security.tasks import expire_exports

    assert expire_exports.apply().get() == 1
    old.refresh_from_db()
    assert old.status == ExportRequest.Status.EXPIRED
    assert {p.name for p in export_files(media)} == {str(fresh.pk)}
    assert "security.expire_exports" in {
        entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
    }


def test_the_file_is_encrypted_at_rest_and_readable_by_nobody_else(head_north, anna_deal, media):
    export = exports.export_request(user=head_north, resource="deals", fmt="csv", filters={},
                                    ip=None)
    stored = media / export.file_path
    assert stored.stat().st_mode & 0o077 == 0
    raw = stored.read_bytes()
    assert "Поставка серверов".encode() not in raw and b"head_north" not in raw
    assert raw.startswith(b"v1:")


def test_a_file_swapped_for_another_exports_is_refused(head_north, anna_deal, media):
    mine = exports.export_request(user=head_north, resource="deals", fmt="csv", filters={},
                                  ip=None)
    other = exports.export_request(user=head_north, resource="contacts", fmt="csv", filters={},
                                   ip=None)
    (media / mine.file_path).write_bytes((media / other.file_path).read_bytes())
    assert download(head_north, mine.pk).status_code == 404
    mine.refresh_from_db()
    assert mine.status == ExportRequest.Status.FAILED and "altered" in mine.error
    assert not (media / mine.file_path).exists()


# --- The cell as finally written -------------------------------------------------------------
# Hostile text: control characters (which openpyxl refuses and Excel skips) in front of a
# trigger, full-width triggers, spaces, and any other text.
_HOSTILE_CELL = st.one_of(
    st.text(),
    st.builds(lambda *parts: "".join(parts),
              st.text(alphabet="\x00\x01\x08\x0b\x1b\x1f \t\r\n\u3000", max_size=4),
              st.sampled_from(["=", "+", "-", "@", "＝", "＋", "－", "＠", "'", "a", ""]),
              st.text(max_size=20)),
)


# What Excel takes for the start of a formula, spelled out here rather than read from the
# code under test.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def _triggers(text: str) -> bool:
    return text[:1] in TRIGGERS or text.lstrip()[:1] in TRIGGERS


def _assert_written_safely(written, text: str, *, xml: bool) -> None:
    """`written` is `text` without control characters, behind a quote when it would be a
    formula; and the quote is there only then."""
    visible = ILLEGAL_CHARACTERS_RE.sub("", text)
    if xml:  # an XML parser reads every line break as "\n"
        visible = visible.replace("\r\n", "\n").replace("\r", "\n")
        written = (written or "").replace("\r\n", "\n").replace("\r", "\n")
    if _triggers(visible):
        assert written == "'" + visible
    else:
        assert written == visible
    assert written[:1] == "'" or not _triggers(written)


@pytest.mark.parametrize("text", ["\x01=HYPERLINK(\"http://evil\",\"x\")", "\x1f+1", "＝1+1",
                                  "\x08\t=1", "\n=1", "＠SUM(A1)", "\x00－2"])
def test_a_formula_behind_control_characters_is_neutralised_in_every_file(text):
    sheet = openpyxl.load_workbook(io.BytesIO(exports.render_xlsx([[text]], "t"))).active
    cell = sheet.cell(1, 1)
    assert cell.data_type != "f"
    _assert_written_safely(cell.value, text, xml=True)
    (row,) = csv.reader(io.StringIO(exports.render_csv([[text]]).decode("utf-8-sig")))
    _assert_written_safely(row[0], text, xml=False)


@hypothesis_settings(max_examples=200, deadline=None)
@given(text=_HOSTILE_CELL)
def test_any_text_is_written_to_an_xlsx_cell_safely(text):
    sheet = openpyxl.load_workbook(io.BytesIO(exports.render_xlsx([[text, 1]], "t"))).active
    cell = sheet.cell(1, 1)
    assert cell.data_type != "f"
    _assert_written_safely(cell.value, text, xml=True)


@hypothesis_settings(max_examples=200, deadline=None)
@given(text=_HOSTILE_CELL)
def test_any_text_is_written_to_a_csv_cell_safely(text):
    rows = list(csv.reader(io.StringIO(exports.render_csv([[text, 1]]).decode("utf-8-sig"),
                                       newline="")))
    assert len(rows) == 1
    _assert_written_safely(rows[0][0], text, xml=False)


def test_the_evidence_csv_neutralises_a_formula_behind_a_control_character(
        security_officer, anna, anna_deal):
    from django.test import Client

    from security.audit import evidence
    from security.models import AccessRecord, Alert

    client = Client()
    client.force_login(anna)
    hostile = '\x01=HYPERLINK("http://evil.example","x")'
    assert client.get(f"/deals/{anna_deal.pk}/", HTTP_USER_AGENT=hostile).status_code == 200
    records = list(AccessRecord.objects.filter(action="view"))
    alert = Alert.objects.create(rule="foreign_cards", user=anna, count=30, threshold=30,
                                 window_minutes=10,
                                 evidence={"records": [r.seq for r in records]})
    data = evidence.alert_evidence(alert=alert, by=security_officer).data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    agents = [row[10] for row in rows if len(row) > 10 and "HYPERLINK" in row[10]]
    assert agents and all(a.startswith("'=HYPERLINK") for a in agents)
    assert not any(_triggers(v) and not v.startswith("'") for row in rows for v in row)
