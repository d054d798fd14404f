"""The head's task list covers the team (issue 19): every member's open tasks with their open
and overdue counts, one person's on a click; another team's people are a 404, a manager has
no team list (403), the director sees every team."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import services
from tests.factories import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def work(anna, ivan, olga, head_north):
    past, future = timezone.now() - timedelta(days=2), timezone.now() + timedelta(days=2)

    def late(user, title):
        return services.task_create(by=user, title=title, due_at=past, overdue_ok=True)

    tasks = {
        "anna_late": late(anna, "Перезвонить Петрову"),
        "anna_soon": services.task_create(by=anna, title="Отправить КП", due_at=future),
        "ivan_late": late(ivan, "Счёт Ромашке"),
        "olga_late": late(olga, "Задача юга"),
    }
    done = late(anna, "Уже сделано")
    services.task_complete(task=done, by=anna)
    return tasks


def test_the_head_sees_the_teams_open_tasks_with_counts_per_person(head_north, anna, ivan,
                                                                   work):
    page = client_for(head_north).get(reverse("team_task_list"))
    assert page.status_code == 200
    html = page.content.decode()
    for title in ("Перезвонить Петрову", "Отправить КП", "Счёт Ромашке"):
        assert title in html
    assert "Задача юга" not in html and "Уже сделано" not in html
    counts = {m.pk: (m.open_tasks, m.overdue_tasks) for m in page.context["members"]}
    assert counts[anna.pk] == (2, 1) and counts[ivan.pk] == (1, 1)
    assert all(m.team_id == head_north.team_id for m in page.context["members"])
    # Overdue first.
    assert [t.title for t in page.context["tasks"]][:2] in (
        ["Перезвонить Петрову", "Счёт Ромашке"], ["Счёт Ромашке", "Перезвонить Петрову"])


def test_one_persons_tasks_and_another_teams_person_is_a_404(head_north, anna, olga, work):
    client = client_for(head_north)
    page = client.get(reverse("team_task_list"), {"assignee": anna.pk})
    assert [t.title for t in page.context["tasks"]] == ["Перезвонить Петрову", "Отправить КП"]
    for outsider in (olga.pk, 10**30, "x", -1):
        assert client.get(reverse("team_task_list"), {"assignee": outsider}).status_code == 404


def test_a_manager_has_no_team_list_and_the_director_sees_every_team(anna, director, work):
    assert client_for(anna).get(reverse("team_task_list")).status_code == 403
    assert reverse("team_task_list") not in client_for(anna).get(
        reverse("task_list")).content.decode()
    page = client_for(director).get(reverse("team_task_list"))
    titles = {t.title for t in page.context["tasks"]}
    assert {"Перезвонить Петрову", "Счёт Ромашке", "Задача юга"} <= titles


def test_the_head_completes_a_team_task_from_the_list(head_north, work):
    assert reverse("team_task_list") in client_for(head_north).get(
        reverse("task_list")).content.decode()
    task = work["anna_late"]
    url = reverse("team_task_list")
    response = client_for(head_north).post(reverse("task_complete", args=[task.pk]),
                                           {"next": url})
    assert response.status_code == 302 and response["Location"] == url
    task.refresh_from_db()
    assert task.done
