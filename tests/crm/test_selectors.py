import pytest
from django.http import Http404

from crm import selectors, services
from crm.selectors import DealFilters
from tests.factories import make_contact, make_deal, stage


@pytest.fixture
def deals(anna, ivan, olga, anna_deal, olga_deal):
    return {"anna": anna_deal, "ivan": make_deal(ivan, title="Склад Иван"), "olga": olga_deal}


def titles(qs):
    return sorted(d.title for d in qs)


def test_a_manager_sees_only_their_own_deals(anna, deals):
    assert titles(selectors.deals_visible_to(anna)) == ["Поставка серверов"]


def test_a_head_sees_the_whole_team_but_not_the_other_team(head_north, deals):
    assert titles(selectors.deals_visible_to(head_north)) == ["Поставка серверов", "Склад Иван"]


def test_the_admin_sees_everything(director, deals):
    assert selectors.deals_visible_to(director).count() == 3


@pytest.mark.parametrize("role_fixture", ["marketer", "support", "security_officer"])
def test_roles_without_deal_access_see_no_deals(request, role_fixture, deals):
    user = request.getfixturevalue(role_fixture)
    assert not selectors.deals_visible_to(user).exists()


def test_an_inactive_or_anonymous_user_sees_nothing(anna, deals):
    from django.contrib.auth.models import AnonymousUser

    anna.is_active = False
    assert not selectors.deals_visible_to(anna).exists()
    assert not selectors.deals_visible_to(AnonymousUser()).exists()
    assert not selectors.contacts_visible_to(AnonymousUser()).exists()


def test_deal_get_is_a_404_for_outsiders(olga, anna, deals):
    assert selectors.deal_get(user=anna, pk=deals["anna"].pk) == deals["anna"]
    with pytest.raises(Http404):
        selectors.deal_get(user=olga, pk=deals["anna"].pk)


def test_contacts_follow_deals_and_ownership(anna, ivan, olga, head_north, marketer, deals):
    ivans_own = make_contact(ivan, name="Контакт Ивана")
    assert deals["anna"].contact in selectors.contacts_visible_to(anna)
    assert ivans_own not in selectors.contacts_visible_to(anna)
    assert ivans_own in selectors.contacts_visible_to(head_north)
    assert deals["anna"].contact not in selectors.contacts_visible_to(olga)
    assert selectors.contacts_visible_to(marketer).count() == 3
    with pytest.raises(Http404):
        selectors.contact_get(user=olga, pk=deals["anna"].contact.pk)


def test_companies_are_visible_through_contacts(anna, olga):
    company = services.company_create(by=anna, name="ООО «Ромашка»", inn="7701234567")
    make_contact(anna, company=company)
    other = services.company_create(by=olga, name="АО «Юг»")
    visible = selectors.companies_visible_to(anna)
    assert company in visible and other not in visible


def test_tasks_are_visible_to_their_assignee_and_on_visible_deals(anna, olga, head_north, deals):
    task = services.task_create(by=anna, title="Выслать КП", deal=deals["anna"])
    assert task in selectors.tasks_visible_to(anna)
    assert task in selectors.tasks_visible_to(head_north)
    assert task not in selectors.tasks_visible_to(olga)


def test_the_list_filters_searches_and_sorts_by_last_activity(anna, deals):
    second = make_deal(anna, title="Ремонт офиса", amount=10)
    services.deal_move(deal=second, stage=stage(1), by=anna)
    services.note_add(by=anna, deal=deals["anna"], text="свежая активность")

    assert titles(selectors.deal_list(user=anna)) == ["Поставка серверов", "Ремонт офиса"]
    assert [d.title for d in selectors.deal_list(user=anna)][0] == "Поставка серверов"
    assert titles(selectors.deal_list(user=anna, filters=DealFilters(stage=stage(1).pk))) == [
        "Ремонт офиса"
    ]
    assert titles(selectors.deal_list(user=anna, filters=DealFilters(q="смирнов"))) == [
        "Поставка серверов"
    ]
    assert titles(selectors.deal_list(user=anna, filters=DealFilters(q="ремонт"))) == [
        "Ремонт офиса"
    ]
    services.deal_close(deal=second, by=anna, status="won")
    assert titles(selectors.deal_list(user=anna, filters=DealFilters(status="won"))) == [
        "Ремонт офиса"
    ]


def test_only_heads_may_filter_by_owner(anna, ivan, head_north, deals):
    by_ivan = DealFilters(owner=ivan.pk)
    assert titles(selectors.deal_list(user=head_north, filters=by_ivan)) == ["Склад Иван"]
    # A manager's owner filter is ignored, never widened.
    assert titles(selectors.deal_list(user=anna, filters=by_ivan)) == ["Поставка серверов"]


def test_the_kanban_groups_open_deals_by_stage_in_order(anna, deals):
    second = make_deal(anna, title="Ремонт офиса")
    services.deal_move(deal=second, stage=stage(3), by=anna)
    columns = selectors.kanban_columns(user=anna, pipeline=selectors.default_pipeline())
    assert [c.stage.position for c in columns] == [0, 1, 2, 3, 4]
    assert [d.title for d in columns[0].deals] == ["Поставка серверов"]
    assert [d.title for d in columns[3].deals] == ["Ремонт офиса"]
    assert [c.count for c in columns] == [1, 0, 0, 1, 0]


def test_the_kanban_shows_the_most_active_cards_but_counts_and_sums_all(anna, head_north):
    for amount in (100, 200, 300):
        make_deal(anna, amount=amount)
    make_deal(anna, amount=50, currency="USD")
    newest = make_deal(anna, title="Самая свежая", amount=1)
    columns = selectors.kanban_columns(
        user=head_north, pipeline=selectors.default_pipeline(), per_stage=2
    )
    first = columns[0]
    assert first.count == 5
    assert first.totals == {"RUB": 601, "USD": 50}
    assert len(first.deals) == 2 and first.deals[0] == newest


def test_the_timeline_pages_backwards_without_gaps_or_repeats(anna, anna_deal):
    for i in range(7):
        services.note_add(by=anna, deal=anna_deal, text=f"заметка {i}")
    first = selectors.deal_timeline(deal=anna_deal, limit=3)
    second = selectors.deal_timeline(deal=anna_deal, before=first[-1].pk, limit=3)
    rest = selectors.deal_timeline(deal=anna_deal, before=second[-1].pk, limit=10)
    ids = [e.pk for e in first + second + rest]
    assert len(ids) == len(set(ids)) == 8  # 7 notes + "deal created"
    assert [e.source.text for e in first] == ["заметка 6", "заметка 5", "заметка 4"]
    assert rest[-1].kind == "deal_created"
