"""Realtime events: sent after commit, all of a transaction's in one trip, none on rollback."""

from unittest import mock

import pytest
from django.db import transaction

from core import events


@pytest.mark.django_db
def test_a_transactions_events_go_out_together_after_commit_in_order(
    django_capture_on_commit_callbacks
):
    with mock.patch.object(events, "_send_all") as send_all:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            events.send_after_commit("deal.1", {"type": "a"})
            events.send_after_commit("deal.2", {"type": "b"})
            events.deal_changed(deal_id=1)
            send_all.assert_not_called()  # not before the commit
    assert len(callbacks) == 1
    send_all.assert_called_once_with([
        ("deal.1", {"type": "a"}), ("deal.2", {"type": "b"}),
        ("deal.1", {"type": "deal.changed", "deal": 1}),
    ])


@pytest.mark.django_db(transaction=True)
def test_nothing_goes_out_for_a_rolled_back_transaction():
    with mock.patch.object(events, "_send_all") as send_all:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                events.send_after_commit("deal.1", {"type": "a"})
                raise RuntimeError
        with transaction.atomic():
            events.send_after_commit("deal.2", {"type": "b"})
    send_all.assert_called_once_with([("deal.2", {"type": "b"})])


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_event_goes_at_once():
    with mock.patch.object(events, "_send_all") as send_all:
        events.send_after_commit("deal.3", {"type": "c"})
    send_all.assert_called_once_with([("deal.3", {"type": "c"})])


@pytest.mark.django_db(transaction=True)
def test_each_committed_transaction_sends_its_own_events_once():
    with mock.patch.object(events, "_send_all") as send_all:
        with transaction.atomic():
            events.send_after_commit("deal.1", {"type": "a"})
        with transaction.atomic():
            events.send_after_commit("deal.2", {"type": "b"})
    assert send_all.call_args_list == [mock.call([("deal.1", {"type": "a"})]),
                                       mock.call([("deal.2", {"type": "b"})])]


@pytest.mark.django_db(transaction=True)
def test_events_after_a_rolled_back_savepoint_still_go_out():
    """The batch was registered inside the savepoint and went with it: the transaction's
    later events start a new one instead of joining a batch nobody will send."""
    with mock.patch.object(events, "_send_all") as send_all:
        with transaction.atomic():
            with pytest.raises(RuntimeError):
                with transaction.atomic():
                    events.send_after_commit("deal.1", {"type": "a"})
                    raise RuntimeError
            events.send_after_commit("deal.2", {"type": "b"})
    send_all.assert_called_once_with([("deal.2", {"type": "b"})])
