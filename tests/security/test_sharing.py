"""Explicit deal shares: the services, guardian, expiry, the visibility rule on every surface
(list, card, API, websocket), and the sharing routes' access rules.

Anna (north) owns the deal; Olga (south) is the colleague it is shared with; Ivan, Anna's
teammate, does not see it (a manager sees only their own) and stands for the outsider.
"""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from guardian.core import ObjectPermissionChecker
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.asgi import application
from crm import selectors, services, sharing
from crm.models import Deal, DealUserObjectPermission, TimelineEntry
from crm.tasks import delete_expired_deal_shares
from security import roles
from tests.factories import make_contact, make_deal, make_user, stage

API = "/api/v1"


def share(deal, user, access=sharing.READ, expires_at=None, by=None):
    return sharing.deal_share(
        deal=deal, user=user, access=access, expires_at=expires_at, by=by or deal.owner
    )


def in_an_hour():
    return timezone.now() + timedelta(hours=1)


def expire_all_shares():
    DealUserObjectPermission.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


def api_for(user=None) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        token, _created = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def html_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def anna_company(anna, anna_contact):
    company = services.company_create(by=anna, name="ООО «Ромашка»")
    services.contact_update(contact=anna_contact, by=anna, company=company)
    return company


@pytest.fixture
def anna_task(anna, anna_deal):
    return services.task_create(by=anna, title="Позвонить Петру", deal=anna_deal)


# --- Services --------------------------------------------------------------------------------


def test_a_read_share_shows_the_deal_to_the_colleague_and_only_that(anna, olga, anna_deal,
                                                                     olga_deal):
    assert anna_deal not in selectors.deals_visible_to(olga)
    result = share(anna_deal, olga, expires_at=in_an_hour())
    assert result.access == sharing.READ and result.granted_by == anna
    assert set(selectors.deals_visible_to(olga)) == {anna_deal, olga_deal}
    assert selectors.deal_get(user=olga, pk=anna_deal.pk) == anna_deal
    assert not selectors.deal_can_edit(user=olga, deal=anna_deal)
    # Anna does not see Olga's deal in return.
    assert olga_deal not in selectors.deals_visible_to(anna)


def test_guardian_recognises_a_share(anna, olga, anna_deal):
    share(anna_deal, olga, access=sharing.READ)
    checker = ObjectPermissionChecker(olga)
    assert checker.has_perm("crm.view_deal", anna_deal)
    assert not checker.has_perm("crm.change_deal", anna_deal)

    share(anna_deal, olga, access=sharing.EDIT)
    checker = ObjectPermissionChecker(olga)
    assert checker.has_perm("crm.view_deal", anna_deal)
    assert checker.has_perm("crm.change_deal", anna_deal)
    assert olga.has_perm("crm.change_deal", anna_deal)  # through guardian's backend
    assert {row.__class__ for row in DealUserObjectPermission.objects.all()} == {
        DealUserObjectPermission
    }


def test_an_edit_share_lets_the_colleague_change_the_deal(anna, olga, anna_deal):
    share(anna_deal, olga, access=sharing.EDIT)
    assert selectors.deal_can_edit(user=olga, deal=anna_deal)
    services.deal_move(deal=anna_deal, stage=stage(1), by=olga)
    services.note_add(by=olga, deal=anna_deal, text="Созвонилась с клиентом")
    assert anna_deal.timeline.filter(kind="note").exists()


def test_an_edit_share_does_not_let_the_colleague_hand_the_deal_over(anna, head_north, anna_deal,
                                                                      south, olga, ivan):
    head_south = make_user("head_south", roles.SALES_HEAD, south)
    south.head = head_south
    south.save()
    share(anna_deal, head_south, access=sharing.EDIT)
    head_south = type(head_south).objects.get(pk=head_south.pk)
    with pytest.raises(PermissionDenied):
        services.deal_reassign(deal=anna_deal, to_user=olga, by=head_south)
    # The deal's own head still can, within his team.
    services.deal_reassign(deal=anna_deal, to_user=ivan, by=head_north)


def test_a_read_share_cannot_change_the_deal_its_client_or_its_tasks(
    anna, olga, anna_deal, anna_company, anna_task
):
    share(anna_deal, olga)
    attempts = [
        lambda: services.deal_move(deal=anna_deal, stage=stage(1), by=olga),
        lambda: services.deal_close(deal=anna_deal, status="won", by=olga),
        lambda: services.deal_update(deal=anna_deal, by=olga, title="Моя"),
        lambda: services.note_add(by=olga, deal=anna_deal, text="…"),
        lambda: services.task_create(by=olga, title="…", deal=anna_deal, assignee=olga),
        lambda: services.task_complete(task=anna_task, by=olga),
        lambda: services.contact_update(contact=anna_deal.contact, by=olga, name="Другой"),
        lambda: services.company_update(company=anna_company, by=olga, name="Другая"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    anna_deal.refresh_from_db()
    assert anna_deal.stage == stage(0) and anna_deal.status == "open"


def test_an_expired_share_grants_nothing_even_before_the_cleanup(anna, olga, anna_deal):
    share(anna_deal, olga, access=sharing.EDIT, expires_at=in_an_hour())
    expire_all_shares()
    assert DealUserObjectPermission.objects.count() == 2  # still there...
    assert anna_deal not in selectors.deals_visible_to(olga)  # ...and granting nothing
    assert not selectors.deal_can_edit(user=olga, deal=anna_deal)
    assert sharing.deal_shares(deal=anna_deal) == []
    with pytest.raises(Http404):
        selectors.deal_get(user=olga, pk=anna_deal.pk)


def test_the_periodic_job_deletes_expired_shares_only(anna, olga, ivan, anna_deal):
    share(anna_deal, olga, expires_at=in_an_hour())
    share(anna_deal, ivan, access=sharing.EDIT)  # no expiry
    DealUserObjectPermission.objects.filter(user=olga).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert delete_expired_deal_shares() == 1
    assert set(DealUserObjectPermission.objects.values_list("user_id", flat=True)) == {ivan.pk}
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "crm.delete_expired_deal_shares" in scheduled


def test_revoking_a_share_takes_the_deal_away_and_both_are_on_the_timeline(anna, olga, anna_deal):
    share(anna_deal, olga, access=sharing.EDIT, expires_at=in_an_hour())
    assert sharing.deal_unshare(deal=anna_deal, user=olga, by=anna)
    assert anna_deal not in selectors.deals_visible_to(olga)
    assert not DealUserObjectPermission.objects.exists()
    assert not sharing.deal_unshare(deal=anna_deal, user=olga, by=anna)  # nothing left
    kinds = list(
        TimelineEntry.objects.filter(deal=anna_deal).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["deal_created", "deal_shared", "deal_unshared"]
    shared = TimelineEntry.objects.get(kind="deal_shared")
    assert shared.actor == anna
    assert shared.payload["user"] == olga.pk and shared.payload["access"] == "edit"
    assert shared.payload["expires_at"]
    # The change log has both rows' creation and deletion.
    actions = LogEntry.objects.get_for_model(DealUserObjectPermission).values_list(
        "action", flat=True
    )
    assert sorted(actions) == [LogEntry.Action.CREATE] * 2 + [LogEntry.Action.DELETE] * 2


def test_sharing_again_replaces_the_access_and_the_expiry(anna, olga, anna_deal):
    share(anna_deal, olga, access=sharing.EDIT, expires_at=in_an_hour())
    share(anna_deal, olga, access=sharing.READ)
    [current] = sharing.deal_shares(deal=anna_deal)
    assert current.access == sharing.READ and current.expires_at is None
    assert DealUserObjectPermission.objects.count() == 1
    assert not selectors.deal_can_edit(user=olga, deal=anna_deal)


def test_the_owner_their_head_and_the_admin_may_share_nobody_else(
    anna, ivan, olga, head_north, director, marketer, anna_deal
):
    assert sharing.deal_can_share(user=anna, deal=anna_deal)
    assert sharing.deal_can_share(user=head_north, deal=anna_deal)
    assert sharing.deal_can_share(user=director, deal=anna_deal)
    share(anna_deal, olga, access=sharing.EDIT, by=head_north)
    for user in (ivan, olga, marketer):
        assert not sharing.deal_can_share(user=user, deal=anna_deal)
    # An edit share is not passed on.
    with pytest.raises(PermissionDenied):
        share(anna_deal, ivan, by=olga)
    with pytest.raises(PermissionDenied):
        sharing.deal_unshare(deal=anna_deal, user=olga, by=olga)


def test_it_shares_only_with_active_managers_and_heads_and_only_into_the_future(
    anna, olga, head_north, director, marketer, support, anna_deal
):
    inactive = make_user("gone", roles.MANAGER)
    inactive.is_active = False
    inactive.save()
    for user in (anna, marketer, support, director, inactive):
        with pytest.raises(ValidationError) as error:
            share(anna_deal, user)
        assert "user" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        share(anna_deal, anna, by=head_north)  # the owner already has it
    assert "user" in error.value.message_dict
    for when in (timezone.now() - timedelta(minutes=1), timezone.now().replace(tzinfo=None)):
        with pytest.raises(ValidationError) as error:
            share(anna_deal, olga, expires_at=when)
        assert "expires_at" in error.value.message_dict
    with pytest.raises(ValidationError):
        share(anna_deal, olga, access="admin")
    assert not DealUserObjectPermission.objects.exists()
    candidates = set(sharing.share_candidates(deal=anna_deal, by=head_north))
    assert olga in candidates
    assert not candidates & {anna, head_north, marketer, support, director, inactive}


# --- The visibility rule on lists and related objects --------------------------------------


def test_a_shared_deals_client_company_and_tasks_follow_the_share(
    anna, olga, anna_deal, anna_company, anna_task
):
    assert anna_deal.contact not in selectors.contacts_visible_to(olga)
    share(anna_deal, olga)
    assert anna_deal.contact in selectors.contacts_visible_to(olga)
    assert anna_company in selectors.companies_visible_to(olga)
    assert anna_task in selectors.tasks_visible_to(olga)
    assert not selectors.contact_can_edit(user=olga, contact=anna_deal.contact)
    # Anna's other clients stay hers.
    other = make_contact(anna, name="Другой клиент")
    assert other not in selectors.contacts_visible_to(olga)
    sharing.deal_unshare(deal=anna_deal, user=olga, by=anna)
    assert anna_deal.contact not in selectors.contacts_visible_to(olga)
    assert anna_company not in selectors.companies_visible_to(olga)
    assert anna_task not in selectors.tasks_visible_to(olga)


def test_a_head_sees_the_team_their_own_and_what_is_shared_with_them(
    anna, ivan, olga, head_north, anna_deal, olga_deal
):
    ivans = make_deal(ivan)
    assert set(selectors.deals_visible_to(head_north)) == {anna_deal, ivans}
    share(olga_deal, head_north)
    assert set(selectors.deals_visible_to(head_north)) == {anna_deal, ivans, olga_deal}
    assert selectors.deal_can_edit(user=head_north, deal=anna_deal)
    assert not selectors.deal_can_edit(user=head_north, deal=olga_deal)


def _ids(deals):
    return [deal.pk for deal in deals]


def test_the_paged_list_matches_the_plain_query_for_every_filter_and_sort(
    anna, ivan, olga, head_north, anna_deal
):
    """The per-part top-N page (PostgreSQL) returns exactly what the plain queryset does."""
    for n in range(12):
        make_deal(anna if n % 3 else ivan, title=f"Поставка {n}", amount=n * 1000)
        make_deal(olga, title=f"Южная поставка {n}", amount=n * 500)
    for deal in Deal.objects.filter(owner=olga)[:5]:
        share(deal, ivan, access=sharing.EDIT)
        share(deal, head_north)
    for deal in Deal.objects.filter(owner=olga)[5:7]:
        share(deal, anna, expires_at=in_an_hour())
    services.deal_close(deal=Deal.objects.filter(owner=olga).first(), status="won", by=olga)
    variants = [
        selectors.DealFilters(),
        selectors.DealFilters(sort="amount"),
        selectors.DealFilters(sort="created"),
        selectors.DealFilters(sort="close"),
        selectors.DealFilters(q="Южная"),
        selectors.DealFilters(status="won"),
        selectors.DealFilters(stage=stage(0).pk, sort="amount"),
        selectors.DealFilters(owner=olga.pk),
    ]
    for user in (anna, ivan, head_north, olga):
        for filters in variants:
            pages = selectors.deal_list_pages(user=user, filters=filters)
            plain = selectors.deal_list(user=user, filters=filters)
            assert pages.count() == plain.count()
            for window in (slice(0, 4), slice(4, 8), slice(2, 30)):
                assert _ids(pages[window]) == _ids(plain[window]), (user, filters, window)


def test_the_first_page_is_one_query_of_per_part_top_rows(anna, olga, anna_deal, olga_deal):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    share(olga_deal, anna)
    pages = selectors.deal_list_pages(user=anna)
    with CaptureQueriesContext(connection) as queries:
        rows = pages[0:25]
    assert _ids(rows) == _ids(selectors.deal_list(user=anna))
    [sql] = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert "UNION ALL" in sql and sql.count("LIMIT 25") == 3
        assert " OR " not in sql.split("UNION ALL")[0]  # the owner part walks its index


# --- HTML ------------------------------------------------------------------------------------


def test_the_card_shows_who_the_deal_is_shared_with_and_the_form(anna, olga, head_north,
                                                                 anna_deal):
    until = in_an_hour()
    share(anna_deal, olga, access=sharing.EDIT, expires_at=until, by=head_north)
    page = html_for(anna).get(anna_deal.get_absolute_url()).content.decode()
    assert 'id="shares"' in page
    assert "Olga" in page and "Head_North" in page
    assert reverse("deal_share_revoke", args=[anna_deal.pk, olga.pk]) in page
    assert timezone.localtime(until).strftime("%H:%M") in page
    # The form is folded: fetched when unfolded, the sharing page linked meanwhile.
    assert f'data-fold-src="{reverse("deal_shares", args=[anna_deal.pk])}?part=form"' in page
    form = html_for(anna).get(reverse("deal_shares", args=[anna_deal.pk]) + "?part=form")
    assert f'action="{reverse("deal_shares", args=[anna_deal.pk])}"' in form.content.decode()


def test_the_colleague_sees_the_shared_deal_in_the_list_and_the_card_read_only(
    anna, olga, anna_deal, anna_task
):
    share(anna_deal, olga)
    client = html_for(olga)
    assert anna_deal.title in client.get(reverse("deal_list")).content.decode()
    page = client.get(anna_deal.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("deal_edit", args=[anna_deal.pk]) not in html
    assert reverse("deal_note_add", args=[anna_deal.pk]) not in html
    assert reverse("deal_share_revoke", args=[anna_deal.pk, olga.pk]) not in html
    # She may look but not change: 403 on every edit action, nothing changed.
    assert client.get(reverse("deal_edit", args=[anna_deal.pk])).status_code == 403
    for name, data in (
        ("deal_edit", {"title": "x"}),
        ("deal_move", {"stage": stage(1).pk}),
        ("deal_status", {"status": "won"}),
        ("deal_note_add", {"text": "x"}),
        ("deal_task_add", {"title": "x", "assignee": olga.pk}),
    ):
        assert client.post(reverse(name, args=[anna_deal.pk]), data).status_code == 403, name
    assert client.post(reverse("task_complete", args=[anna_task.pk])).status_code == 403
    assert client.get(reverse("contact_edit", args=[anna_deal.contact.pk])).status_code == 403
    anna_deal.refresh_from_db()
    assert anna_deal.stage == stage(0) and anna_deal.status == "open"
    assert client.get(anna_deal.contact.get_absolute_url()).status_code == 200


def test_the_owner_shares_and_revokes_through_the_card(anna, olga, anna_deal):
    client = html_for(anna)
    url = reverse("deal_shares", args=[anna_deal.pk])
    response = client.post(url, {
        "share-user": olga.pk, "share-access": "edit", "share-expires_at": "2999-01-01T10:00",
    })
    assert response.status_code == 302
    assert response["Location"].endswith(f"{anna_deal.get_absolute_url()}#shares")
    [current] = sharing.deal_shares(deal=anna_deal)
    assert current.user == olga and current.access == "edit"
    assert timezone.localtime(current.expires_at).hour == 10

    response = client.post(reverse("deal_share_revoke", args=[anna_deal.pk, olga.pk]))
    assert response.status_code == 302
    assert sharing.deal_shares(deal=anna_deal) == []
    # Revoking what is not there is a 404.
    response = client.post(reverse("deal_share_revoke", args=[anna_deal.pk, olga.pk]))
    assert response.status_code == 404


def test_a_bad_share_is_shown_with_its_errors(anna, olga, marketer, anna_deal):
    client = html_for(anna)
    url = reverse("deal_shares", args=[anna_deal.pk])
    response = client.post(url, {
        "share-user": olga.pk, "share-access": "read", "share-expires_at": "2001-01-01T10:00",
    })
    assert response.status_code == 400
    assert "field--invalid" in response.content.decode()
    # Someone who is not an eligible colleague is not even a choice.
    response = client.post(url, {"share-user": marketer.pk, "share-access": "read"})
    assert response.status_code == 400
    assert not DealUserObjectPermission.objects.exists()


def test_the_sharing_page_finds_colleagues_by_name(anna, olga, ivan, anna_deal):
    page = html_for(anna).get(reverse("deal_shares", args=[anna_deal.pk]), {"q": "olg"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'value="{olga.pk}"' in html and f'value="{ivan.pk}"' not in html


def test_the_cards_picker_lists_the_deals_team_first_and_finds_the_rest(anna, ivan, olga,
                                                                         anna_deal,
                                                                         monkeypatch):
    """A company of thousands: the card's folded form offers a few colleagues, the deal's
    team first, and links to the search; a colleague not offered is still shared with."""
    from crm.views import sharing as sharing_views

    monkeypatch.setattr(sharing_views, "CARD_OPTIONS", 1)
    olga.first_name = "Aaa"  # first by name, but of another team
    olga.save()
    card = html_for(anna).get(anna_deal.get_absolute_url()).content.decode()
    fold = reverse("deal_shares", args=[anna_deal.pk]) + "?part=form"
    assert 'name="share-user"' not in card and f'data-fold-src="{fold}"' in card
    html = html_for(anna).get(fold).content.decode()
    assert "<html" not in html, "the form alone"
    picker = html[html.index('name="share-user"'):]
    picker = picker[:picker.index("</select>")]
    assert f'value="{ivan.pk}"' in picker and f'value="{olga.pk}"' not in picker
    assert "Not in the list?" in html or "Нет в списке?" in html
    response = html_for(anna).post(reverse("deal_shares", args=[anna_deal.pk]), {
        "share-user": olga.pk, "share-access": sharing.READ})
    assert response.status_code == 302
    assert [share.user for share in sharing.deal_shares(deal=anna_deal)] == [olga]


def test_sharing_routes_answer_404_to_outsiders_403_to_viewers_and_login_to_anonymous(
    anna, ivan, olga, anna_deal
):
    share(anna_deal, olga)
    routes = [
        ("get", reverse("deal_shares", args=[anna_deal.pk])),
        ("get", reverse("deal_shares", args=[anna_deal.pk]) + "?part=form"),  # the card's fold
        ("post", reverse("deal_shares", args=[anna_deal.pk])),
        ("post", reverse("deal_share_revoke", args=[anna_deal.pk, olga.pk])),
    ]
    for method, url in routes:
        assert getattr(html_for(ivan), method)(url).status_code == 404, url
        assert getattr(html_for(olga), method)(url).status_code == 403, url
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    missing = reverse("deal_shares", args=[Deal.objects.order_by("-pk")[0].pk + 1])
    assert html_for(anna).get(missing).status_code == 404
    assert html_for(anna).get(routes[3][1]).status_code == 405  # revoking is POST only
    assert len(sharing.deal_shares(deal=anna_deal)) == 1


def test_the_timeline_tells_the_share_in_russian(anna, olga, anna_deal):
    share(anna_deal, olga, access=sharing.EDIT, expires_at=in_an_hour())
    sharing.deal_unshare(deal=anna_deal, user=olga, by=anna)
    html = html_for(anna).get(anna_deal.get_absolute_url()).content.decode()
    assert "Открыт доступ" in html and "Доступ отозван" in html
    assert "Olga" in html


# --- API -------------------------------------------------------------------------------------


def test_the_api_lists_creates_and_revokes_shares(anna, olga, anna_deal):
    client = api_for(anna)
    url = f"{API}/deals/{anna_deal.pk}/shares/"
    assert client.get(url).json() == []
    response = client.post(
        url, {"user": olga.pk, "access": "edit", "expires_at": "2999-01-01T10:00:00+03:00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"] == olga.pk and body["access"] == "edit"
    assert body["granted_by"] == anna.pk and body["expires_at"].startswith("2999-01-01T10:00")
    assert client.get(url).json()[0]["user_name"] == "Olga"
    assert client.delete(f"{url}{olga.pk}/").status_code == 204
    assert client.get(url).json() == []
    assert client.delete(f"{url}{olga.pk}/").status_code == 404


def test_the_api_refuses_bad_shares_with_field_errors(anna, olga, anna_deal):
    url = f"{API}/deals/{anna_deal.pk}/shares/"
    response = api_for(anna).post(
        url, {"user": olga.pk, "access": "read", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400 and "expires_at" in response.json()
    response = api_for(anna).post(url, {"user": anna.pk, "access": "read"}, format="json")
    assert response.status_code == 400 and "user" in response.json()


def test_the_colleague_gets_the_shared_deal_from_the_api_but_cannot_change_it(
    anna, olga, anna_deal
):
    share(anna_deal, olga)
    client = api_for(olga)
    listed = client.get(f"{API}/deals/").json()
    assert anna_deal.pk in [deal["id"] for deal in listed["results"]]
    assert client.get(f"{API}/deals/{anna_deal.pk}/").status_code == 200
    assert client.get(f"{API}/deals/{anna_deal.pk}/timeline/").status_code == 200
    assert client.get(f"{API}/contacts/{anna_deal.contact.pk}/").status_code == 200
    assert client.patch(
        f"{API}/deals/{anna_deal.pk}/", {"title": "x"}, format="json"
    ).status_code == 403
    assert client.post(
        f"{API}/deals/{anna_deal.pk}/close/", {"status": "won"}, format="json"
    ).status_code == 403
    assert client.post(
        f"{API}/deals/{anna_deal.pk}/notes/", {"text": "x"}, format="json"
    ).status_code == 403
    # She sees who else has it, but neither shares it on nor revokes.
    assert client.get(f"{API}/deals/{anna_deal.pk}/shares/").status_code == 200
    assert client.post(
        f"{API}/deals/{anna_deal.pk}/shares/", {"user": anna.pk, "access": "read"},
        format="json",
    ).status_code == 403
    assert client.delete(f"{API}/deals/{anna_deal.pk}/shares/{olga.pk}/").status_code == 403


def test_the_api_answers_404_to_outsiders_and_401_to_anonymous(anna, ivan, olga, anna_deal):
    share(anna_deal, olga)
    url = f"{API}/deals/{anna_deal.pk}/shares/"
    for client, expected in ((api_for(ivan), 404), (api_for(), 401)):
        assert client.get(url).status_code == expected
        assert client.post(url, {"user": ivan.pk, "access": "read"},
                           format="json").status_code == expected
        assert client.delete(f"{url}{olga.pk}/").status_code == expected
    assert len(sharing.deal_shares(deal=anna_deal)) == 1


# --- Websocket -------------------------------------------------------------------------------


@database_sync_to_async
def _session_cookie(user) -> str:
    return html_for(user).cookies["sessionid"].value


async def _connect(user):
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"sessionid={await _session_cookie(user)}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _code = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_the_colleague_follows_a_shared_deal_live_until_it_is_revoked(anna, olga,
                                                                            anna_deal):
    communicator = await _connect(olga)
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    assert (await communicator.receive_json_from())["error"] == "not_found"

    await database_sync_to_async(share)(anna_deal, olga)
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    assert await communicator.receive_json_from() == {"subscribed": "deal", "id": anna_deal.pk}
    await database_sync_to_async(services.note_add)(by=anna, deal=anna_deal, text="новости")
    event = await communicator.receive_json_from(timeout=5)
    assert event["type"] == "timeline.entry" and event["deal"] == anna_deal.pk

    await database_sync_to_async(sharing.deal_unshare)(deal=anna_deal, user=olga, by=anna)
    # The socket leaves the deal's group; the revocation's own timeline entry (ids only),
    # queued before, may still arrive, and nothing after it.
    lost = {"type": "deal.access_lost", "deal": anna_deal.pk}
    received = [await communicator.receive_json_from(timeout=5)]
    while not await communicator.receive_nothing(timeout=0.5):
        received.append(await communicator.receive_json_from())
    assert lost in received
    assert all(event == lost or event["kind"] == "deal_unshared" for event in received)
    await database_sync_to_async(services.note_add)(by=anna, deal=anna_deal, text="тайна")
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


def test_a_read_share_does_not_let_the_colleague_keep_the_client(anna, olga, anna_deal):
    """Linking the shared deal's client to one's own deal would outlive the share."""
    from django.core.exceptions import ValidationError
    from rest_framework.test import APIClient

    share(anna_deal, olga)
    with pytest.raises(ValidationError) as e:
        services.deal_create(by=olga, title="Мой клиент", contact=anna_deal.contact)
    assert "contact" in e.value.message_dict
    api = APIClient()
    api.force_authenticate(olga)
    response = api.post("/api/v1/deals/", {"title": "x", "contact": anna_deal.contact_id},
                        format="json")
    assert response.status_code == 400 and "contact" in response.json()


def test_the_api_gives_deals_only_to_sellers_of_the_heads_team(head_north, anna_deal, olga,
                                                                  marketer, ivan):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(head_north)
    for outsider in (olga, marketer):
        response = api.patch(f"/api/v1/deals/{anna_deal.pk}/", {"owner": outsider.pk},
                             format="json")
        assert response.status_code == 400, outsider
    assert api.patch(f"/api/v1/deals/{anna_deal.pk}/", {"owner": ivan.pk},
                     format="json").status_code == 200
