from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from crm import services
from crm.models import ContactPoint, Deal, Note, TimelineEntry
from tests.factories import make_contact, make_deal, stage


def test_it_normalizes_phones_to_e164_and_lowercases_email_domains(anna):
    contact = make_contact(anna, phones=["8 (916) 123-45-67", "+7 495 123 45 67"],
                           emails=["Petr.Smirnov@Example.RU"])
    phones = list(contact.points.filter(kind="phone").values_list("value", "is_primary"))
    assert phones == [("+79161234567", True), ("+74951234567", False)]
    assert contact.points.get(kind="email").value == "Petr.Smirnov@example.ru"


def test_it_rejects_a_bad_phone_and_saves_nothing(anna):
    with pytest.raises(ValidationError) as e:
        make_contact(anna, name="Без телефона", phones=["12345"])
    assert "12345" in str(e.value)
    assert not ContactPoint.objects.exists()
    assert not anna.contacts.filter(name="Без телефона").exists()


def test_it_rejects_a_bad_email(anna):
    with pytest.raises(ValidationError):
        make_contact(anna, emails=["not-an-email"])


def test_it_deduplicates_contact_points(anna):
    contact = make_contact(anna, phones=["+79161234567", "8 916 123-45-67"])
    assert contact.points.filter(kind="phone").count() == 1


def test_removing_the_primary_point_passes_primary_to_the_next(anna_contact, anna):
    old = anna_contact.points.get(kind="phone")
    services.contact_update(contact=anna_contact, by=anna, add_phones=["+7 903 000-00-01"])
    services.contact_update(contact=anna_contact, by=anna, remove_point_ids=[old.pk])
    phones = [(p.value, p.is_primary) for p in anna_contact.points.filter(kind="phone")]
    assert phones == [("+79030000001", True)]


def test_a_bad_added_value_changes_nothing(anna_contact, anna):
    old = anna_contact.points.get(kind="phone")
    with pytest.raises(ValidationError) as e:
        services.contact_update(contact=anna_contact, by=anna, position="Новая",
                                add_phones=["+7 000"], remove_point_ids=[old.pk])
    assert list(e.value.message_dict) == ["phones"]
    anna_contact.refresh_from_db()
    assert anna_contact.position == "" and anna_contact.points.filter(pk=old.pk).exists()


def test_a_new_deal_takes_the_default_pipeline_first_stage_and_the_owners_team(anna, anna_contact):
    deal = make_deal(anna, contact=anna_contact, amount="1500.50")
    assert deal.stage == stage(0)
    assert deal.team == anna.team
    assert deal.currency == "RUB"
    assert deal.amount == Decimal("1500.50")
    assert deal.status == Deal.Status.OPEN
    assert deal.timeline.get().kind == "deal_created"


def test_a_manager_cannot_give_a_new_deal_to_someone_else(anna, ivan):
    with pytest.raises(PermissionDenied):
        services.deal_create(by=anna, title="Чужая", owner=ivan)


def test_a_negative_amount_is_a_validation_error(anna):
    with pytest.raises(ValidationError) as e:
        make_deal(anna, amount=-1)
    assert "amount" in e.value.message_dict


def test_moving_a_deal_records_the_change_on_the_timeline(anna, anna_deal):
    services.deal_move(deal=anna_deal, stage=stage(2), by=anna)
    entry = anna_deal.timeline.filter(kind="stage_changed").get()
    assert entry.payload["from"] == stage(0).name
    assert entry.payload["to"] == stage(2).name
    assert entry.actor == anna


def test_moving_to_the_same_stage_records_nothing(anna, anna_deal):
    services.deal_move(deal=anna_deal, stage=anna_deal.stage, by=anna)
    assert not anna_deal.timeline.filter(kind="stage_changed").exists()


def test_a_stage_of_another_pipeline_is_refused(anna, anna_deal):
    from crm.models import Pipeline, Stage

    other = Pipeline.objects.create(name="Сервис")
    foreign = Stage.objects.create(pipeline=other, name="Заявка")
    with pytest.raises(ValidationError):
        services.deal_move(deal=anna_deal, stage=foreign, by=anna)


def test_losing_a_deal_needs_a_reason(anna, anna_deal):
    with pytest.raises(ValidationError) as e:
        services.deal_close(deal=anna_deal, by=anna, status="lost", loss_reason="  ")
    assert "loss_reason" in e.value.message_dict
    services.deal_close(deal=anna_deal, by=anna, status="lost", loss_reason="Дорого")
    anna_deal.refresh_from_db()
    assert (anna_deal.status, anna_deal.loss_reason) == ("lost", "Дорого")
    assert anna_deal.closed_at is not None


def test_reopening_clears_the_loss_reason(anna, anna_deal):
    services.deal_close(deal=anna_deal, by=anna, status="lost", loss_reason="Дорого")
    services.deal_close(deal=anna_deal, by=anna, status="open")
    anna_deal.refresh_from_db()
    assert (anna_deal.status, anna_deal.loss_reason, anna_deal.closed_at) == ("open", "", None)


def test_a_head_reassigns_a_deal_within_his_team(head_north, anna_deal, ivan):
    services.deal_reassign(deal=anna_deal, to_user=ivan, by=head_north)
    anna_deal.refresh_from_db()
    assert anna_deal.owner == ivan
    assert anna_deal.team == ivan.team
    assert anna_deal.timeline.filter(kind="owner_changed").exists()


@pytest.mark.parametrize("receiver", ["olga", "marketer"])
def test_a_head_cannot_give_a_deal_outside_his_team_or_to_a_non_seller(
    request, head_north, anna_deal, receiver
):
    with pytest.raises(ValidationError) as e:
        services.deal_reassign(deal=anna_deal, to_user=request.getfixturevalue(receiver),
                               by=head_north)
    assert "owner" in e.value.message_dict


def test_the_admin_moves_a_deal_to_another_team_and_the_team_follows(director, anna_deal, olga):
    services.deal_reassign(deal=anna_deal, to_user=olga, by=director)
    anna_deal.refresh_from_db()
    assert (anna_deal.owner, anna_deal.team) == (olga, olga.team)


def test_a_manager_cannot_reassign(anna, ivan, anna_deal):
    with pytest.raises(PermissionDenied):
        services.deal_reassign(deal=anna_deal, to_user=ivan, by=anna)


def test_an_inactive_user_cannot_receive_deals(head_north, ivan, anna_deal):
    ivan.is_active = False
    ivan.save()
    with pytest.raises(ValidationError):
        services.deal_reassign(deal=anna_deal, to_user=ivan, by=head_north)


def test_a_note_lands_on_the_timeline_and_bumps_last_activity(anna, anna_deal):
    before = anna_deal.last_activity_at
    note = services.note_add(by=anna, deal=anna_deal, text="  Клиент просит скидку 5%  ")
    assert note.text == "Клиент просит скидку 5%"
    entry = TimelineEntry.objects.get(kind="note")
    assert entry.source == note
    assert entry.contact == anna_deal.contact
    anna_deal.refresh_from_db()
    assert anna_deal.last_activity_at > before


def test_an_empty_note_is_refused(anna, anna_deal):
    with pytest.raises(ValidationError):
        services.note_add(by=anna, deal=anna_deal, text="   ")
    assert not Note.objects.exists()


def test_a_marketer_cannot_write_notes_or_deals(marketer, anna_deal):
    with pytest.raises(PermissionDenied):
        services.note_add(by=marketer, deal=anna_deal, text="hi")
    with pytest.raises(PermissionDenied):
        make_deal(marketer)


def test_a_task_defaults_to_the_deal_owner_and_completing_it_is_recorded(head_north, anna_deal):
    task = services.task_create(by=head_north, title="Перезвонить", deal=anna_deal)
    assert task.assignee == anna_deal.owner
    assert task.contact == anna_deal.contact
    services.task_complete(task=task, by=anna_deal.owner)
    services.task_complete(task=task, by=anna_deal.owner)  # twice is a no-op
    task.refresh_from_db()
    assert task.done and task.done_at
    assert anna_deal.timeline.filter(kind="task_done").count() == 1


def test_timeline_add_accepts_any_app_kind_without_changes_to_crm(anna, anna_deal):
    entry = services.timeline_add(
        kind="fax_received", deal=anna_deal, actor=anna, payload={"channel": "fax"}
    )
    from crm.timeline import kind_for

    assert kind_for(entry.kind).template == "crm/timeline/unknown.html"
    assert entry.contact == anna_deal.contact


def test_changes_are_audited_without_copying_contact_identifiers(anna, anna_deal, anna_contact):
    from auditlog.models import LogEntry

    services.deal_move(deal=anna_deal, stage=stage(1), by=anna)
    point = anna_contact.points.get(kind="phone")
    logged = LogEntry.objects.get_for_object(point).get()
    assert "+79161234567" not in str(logged.changes)
    assert LogEntry.objects.get_for_object(anna_deal).filter(action=LogEntry.Action.UPDATE).exists()


def test_a_task_due_in_the_past_is_refused_and_its_date_kept_when_overdue(anna, anna_deal):
    yesterday = timezone.now() - timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        services.task_create(by=anna, title="Позвонить", deal=anna_deal, due_at=yesterday)
    assert "due_at" in refused.value.message_dict
    assert not anna_deal.tasks.exists()
    # The current minute is still now (the form picks minutes).
    assert services.task_create(by=anna, title="Сейчас", deal=anna_deal,
                                due_at=timezone.now().replace(second=0, microsecond=0))
    # What the system makes for something past (a call-back of a call processed late) may
    # be overdue at birth.
    late = services.task_create(by=anna, title="Перезвонить", deal=anna_deal,
                                due_at=yesterday, overdue_ok=True)
    assert late.is_overdue
    # Editing an overdue task keeps its date; moving it into the past is refused.
    services.task_update(task=late, by=anna, title="Перезвонить клиенту", due_at=yesterday)
    with pytest.raises(ValidationError):
        services.task_update(task=late, by=anna, due_at=yesterday - timedelta(days=365))
    late.refresh_from_db()
    assert late.due_at == yesterday


def test_tasks_go_only_to_the_team(anna, ivan, olga, anna_deal):
    assert services.task_create(by=anna, title="Ивану", assignee=ivan, deal=anna_deal)
    with pytest.raises(ValidationError) as e:
        services.task_create(by=anna, title="Ольге", assignee=olga, deal=anna_deal)
    assert "assignee" in e.value.message_dict
    task = services.task_create(by=anna, title="Себе", deal=anna_deal)
    with pytest.raises(ValidationError):
        services.task_update(task=task, by=anna, assignee=olga)


def test_a_deal_cannot_start_in_another_teams_pipeline(anna, south):
    from crm.models import Pipeline, Stage

    southern = Pipeline.objects.create(name="Юг", team=south)
    first = Stage.objects.create(pipeline=southern, name="Заявка")
    with pytest.raises(ValidationError) as e:
        make_deal(anna, stage=first)
    assert "stage" in e.value.message_dict


def test_a_manager_cannot_hand_a_contact_to_someone_else(anna, ivan, anna_contact):
    with pytest.raises(PermissionDenied):
        services.contact_update(contact=anna_contact, by=anna, owner=ivan)


def test_a_head_hands_a_contact_over_and_its_team_follows(head_north, ivan, anna_contact):
    services.contact_update(contact=anna_contact, by=head_north, owner=ivan)
    anna_contact.refresh_from_db()
    assert (anna_contact.owner, anna_contact.team) == (ivan, ivan.team)


def test_a_manager_cannot_add_a_task_to_a_deal_she_does_not_own(ivan, anna_deal):
    with pytest.raises(PermissionDenied):
        services.task_create(by=ivan, title="Чужая", deal=anna_deal)


def test_bad_points_are_reported_on_their_field(anna):
    with pytest.raises(ValidationError) as e:
        make_contact(anna, phones=["+7 000"], emails=["x@y.ru"])
    assert list(e.value.message_dict) == ["phones"]


def test_the_change_log_holds_no_note_text(anna, anna_deal):
    from auditlog.models import LogEntry

    services.note_add(by=anna, deal=anna_deal, text="Бюджет 2 млн, решает жена")
    logged = " ".join(f"{e.object_repr} {e.changes}" for e in LogEntry.objects.all())
    assert "Бюджет" not in logged
