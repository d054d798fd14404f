"""The deal visibility rule is written twice: as the union of parts the lists filter by
(crm.selectors.deal_visibility_parts) and as the answer for one deal in hand
(deal_is_visible, which deal_get and so every deal route asks). Every kind of viewer against
every kind of deal and share: the two agree (for seeing and for changing), and deal_get
answers 404 exactly where the lists leave the deal out."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.http import Http404
from django.utils import timezone

from crm import selectors
from crm.models import DealUserObjectPermission
from security import roles
from security.models import Team
from tests.factories import make_deal, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(north, south):
    head = make_user("rule_head", roles.SALES_HEAD, north)
    north.head = head
    north.save()
    viewers = {
        "manager": make_user("rule_manager", roles.MANAGER, north),
        "head": head,
        "admin": make_user("rule_admin", roles.ADMIN),
        "marketer": make_user("rule_marketer", roles.MARKETER, north),
        "support": make_user("rule_support", roles.SUPPORT, north),
        "inactive manager": make_user("rule_gone", roles.MANAGER, north, is_active=False),
        "manager of another team": make_user("rule_south", roles.MANAGER, south),
    }
    teammate = make_user("rule_teammate", roles.MANAGER, north)
    stranger = make_user("rule_stranger", roles.MANAGER, south)
    loner = Team.objects.create(name="Без руководителя")
    deals = {
        "own": make_deal(viewers["manager"]),
        "the head's own": make_deal(head),
        "a teammate's": make_deal(teammate),
        "another team's": make_deal(stranger),
        "a team without a head": make_deal(make_user("rule_loner", roles.MANAGER, loner)),
    }
    # Rows as sharing.deal_share writes them, also for roles it now refuses (a share that
    # outlived its holder's change of role or leaving).
    view, change = (Permission.objects.get(codename=codename)
                    for codename in ("view_deal", "change_deal"))
    past = timezone.now() - timedelta(seconds=1)
    for who in ("manager", "manager of another team", "marketer", "inactive manager"):
        for kind, permissions, expires_at in (
            ("shared for reading with", [view], None),
            ("shared for editing with", [view, change], timezone.now() + timedelta(hours=1)),
            ("once shared with", [view, change], past),
            ("a stray edit row for", [change], None),  # without its read row: nothing
        ):
            deal = make_deal(stranger)
            for permission in permissions:
                DealUserObjectPermission.objects.create(
                    content_object=deal, user=viewers[who], permission=permission,
                    expires_at=expires_at)
            deals[f"{kind} the {who}"] = deal
    return viewers, deals


def test_the_rule_for_one_deal_is_the_rule_of_the_lists(world):
    viewers, deals = world
    seen, deals_editable = set(), {}
    for who, viewer in viewers.items():
        listed = set(selectors.deals_visible_to(viewer).values_list("pk", flat=True))
        for kind, deal in deals.items():
            fresh = type(deal).objects.get(pk=deal.pk)
            answer = selectors.deal_is_visible(user=viewer, deal=fresh)
            assert answer == (deal.pk in listed), (who, kind)
            try:
                selectors.deal_get(user=viewer, pk=deal.pk)
            except Http404:
                assert not answer, (who, kind)
            else:
                assert answer, (who, kind)
            seen.add(answer)
            editable = deals_editable.get(who)
            if editable is None:
                editable = deals_editable[who] = set(
                    selectors.deals_editable_by(viewer).values_list("pk", flat=True))
            assert selectors.deal_can_edit(user=viewer, deal=fresh) == (deal.pk in editable), \
                (who, kind, "edit")
    assert seen == {True, False}, "the world must hold both answers"
