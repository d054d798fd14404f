"""The HTML UI: access (login, 404 for outsiders), lists, the deal card, forms, i18n, escaping."""

import re
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import selectors, services
from crm.models import Company, Contact, Deal, Note, Task, TimelineEntry
from crm.views import deals as deal_views
from tests.factories import make_contact, make_deal, stage

ROOT = Path(__file__).resolve().parents[2]
XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def anna_company(anna, anna_contact):
    company = services.company_create(by=anna, name="ООО «Ромашка»", inn="7701234567")
    services.contact_update(contact=anna_contact, by=anna, company=company)
    return company


@pytest.fixture
def anna_task(anna, anna_deal):
    return services.task_create(by=anna, title="Позвонить Петру", deal=anna_deal)


@pytest.fixture
def as_anna(client, anna):
    client.force_login(anna)
    return client


@pytest.fixture
def as_olga(client, olga):
    client.force_login(olga)
    return client


def html(response) -> str:
    return response.content.decode()


# --- Access ----------------------------------------------------------------------------------


def test_it_redirects_anonymous_visitors_to_login(client, anna_deal, anna_company, anna_task):
    entry = anna_deal.timeline.first()
    urls = [
        "/", "/deals/", "/deals/board/", "/deals/new/", f"/deals/{anna_deal.pk}/",
        f"/deals/{anna_deal.pk}/edit/", f"/deals/{anna_deal.pk}/timeline/",
        f"/deals/{anna_deal.pk}/timeline/{entry.pk}/", "/tasks/", "/contacts/", "/contacts/new/",
        f"/contacts/{anna_deal.contact_id}/", f"/contacts/{anna_deal.contact_id}/edit/",
        "/companies/", "/companies/new/", f"/companies/{anna_company.pk}/",
        f"/companies/{anna_company.pk}/edit/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/login/?next={url}", url


def test_it_redirects_anonymous_posts_to_login_and_changes_nothing(client, anna_deal, anna_task):
    for url in [
        f"/deals/{anna_deal.pk}/notes/", f"/deals/{anna_deal.pk}/move/",
        f"/tasks/{anna_task.pk}/complete/",
    ]:
        response = client.post(url, {"text": "x", "stage": stage(3).pk})
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
    anna_deal.refresh_from_db()
    anna_task.refresh_from_db()
    assert anna_deal.stage == stage(0)
    assert not anna_task.done
    assert not Note.objects.exists()


def test_the_root_redirects_to_the_deal_list(as_anna):
    response = as_anna.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("deal_list") == "/deals/"


def test_it_logs_in_with_the_form_and_lands_on_the_deal_list(client, anna):
    page = client.get("/login/")
    assert page.status_code == 200
    assert 'name="username"' in html(page) and 'name="password"' in html(page)
    response = client.post("/login/", {"username": "anna", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == "/deals/"


def test_it_shows_an_error_for_a_wrong_password(client, anna):
    response = client.post("/login/", {"username": "anna", "password": "nope"})
    assert response.status_code == 200
    assert "form-errors" in html(response)
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(as_anna):
    assert as_anna.get("/logout/").status_code == 405
    response = as_anna.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert as_anna.get("/deals/").status_code == 302


def test_anna_sees_her_deal_card_and_timeline(as_anna, anna_deal, anna_company):
    response = as_anna.get(f"/deals/{anna_deal.pk}/")
    assert response.status_code == 200
    page = html(response)
    assert "Поставка серверов" in page
    assert "Пётр Смирнов" in page
    # Masked for a manager (security.masking), with a way to reveal.
    assert "+7 *** ***-45-67" in page and "+79161234567" not in page
    assert "P***@example.ru" in page and "Petr@example.ru" not in page
    assert f"/contacts/{anna_deal.contact_id}/points/" in page
    assert "ООО «Ромашка»" in page
    assert "150\xa0000&nbsp;₽" in page
    assert "Новая заявка" in page
    entry = anna_deal.timeline.get(kind="deal_created")
    assert f'id="entry-{entry.pk}"' in page
    assert "Сделка создана" in page
    assert 'aria-live="polite"' in page
    assert f'data-deal-id="{anna_deal.pk}"' in page


def test_olga_gets_404_on_everything_of_annas(as_olga, anna_deal, anna_company, anna_task):
    deal, contact = anna_deal, anna_deal.contact
    entry = deal.timeline.first()
    gets = [
        f"/deals/{deal.pk}/", f"/deals/{deal.pk}/edit/", f"/deals/{deal.pk}/timeline/",
        f"/deals/{deal.pk}/timeline/{entry.pk}/", f"/contacts/{contact.pk}/",
        f"/contacts/{contact.pk}/edit/", f"/companies/{anna_company.pk}/",
        f"/companies/{anna_company.pk}/edit/", f"/deals/new/?contact={contact.pk}",
    ]
    for url in gets:
        assert as_olga.get(url).status_code == 404, url
    posts = {
        f"/deals/{deal.pk}/edit/": {"title": "Мой", "currency": "RUB", "stage": stage(1).pk},
        f"/deals/{deal.pk}/move/": {"stage": stage(3).pk},
        f"/deals/{deal.pk}/status/": {"status": "won"},
        f"/deals/{deal.pk}/notes/": {"text": "чужая заметка"},
        f"/deals/{deal.pk}/tasks/": {"title": "чужая задача", "assignee": anna_deal.owner_id},
        f"/tasks/{anna_task.pk}/complete/": {},
        f"/contacts/{contact.pk}/edit/": {"name": "Взлом", "source": "manual"},
        f"/contacts/{contact.pk}/notes/": {"text": "чужая заметка"},
        f"/companies/{anna_company.pk}/edit/": {"name": "Взлом"},
    }
    for url, data in posts.items():
        assert as_olga.post(url, data).status_code == 404, url
        assert as_olga.post(url, data, **JSON).status_code == 404, url
    deal.refresh_from_db()
    contact.refresh_from_db()
    anna_task.refresh_from_db()
    anna_company.refresh_from_db()
    assert (deal.title, deal.stage, deal.status) == ("Поставка серверов", stage(0), "open")
    assert contact.name == "Пётр Смирнов"
    assert anna_company.name == "ООО «Ромашка»"
    assert not anna_task.done
    assert not Note.objects.exists()
    assert Task.objects.count() == 1


def test_olga_cannot_see_another_deals_entry_through_her_own_deal(as_olga, anna_deal, olga_deal):
    entry = anna_deal.timeline.first()
    assert as_olga.get(f"/deals/{olga_deal.pk}/timeline/{entry.pk}/").status_code == 404


def test_olgas_lists_do_not_show_annas_objects(as_olga, anna_deal, anna_company, olga_deal):
    for url in ["/deals/", "/deals/board/", "/contacts/", "/companies/", "/tasks/"]:
        page = html(as_olga.get(url))
        assert "Поставка серверов" not in page, url
        assert "Пётр Смирнов" not in page, url
        assert "Ромашка" not in page, url
    assert "Южный склад" in html(as_olga.get("/deals/"))


def test_head_north_sees_annas_deal_and_can_filter_by_owner(client, head_north, anna, ivan,
                                                             anna_deal, olga_deal):
    ivan_deal = make_deal(ivan, title="Сделка Ивана")
    client.force_login(head_north)
    assert client.get(f"/deals/{anna_deal.pk}/").status_code == 200
    assert client.get(f"/deals/{olga_deal.pk}/").status_code == 404
    page = html(client.get("/deals/"))
    assert "Сделки команды" in page
    assert 'name="owner"' in page
    assert "Поставка серверов" in page and "Сделка Ивана" in page
    assert "Южный склад" not in page
    page = html(client.get("/deals/", {"owner": ivan.pk}))
    assert "Сделка Ивана" in page
    assert "Поставка серверов" not in page
    assert ivan_deal.pk


def test_a_manager_has_no_owner_filter(as_anna, anna_deal, ivan):
    make_deal(ivan, title="Сделка Ивана")
    page = html(as_anna.get("/deals/", {"owner": ivan.pk}))
    assert 'name="owner"' not in page
    assert "Поставка серверов" in page
    assert "Сделка Ивана" not in page


# --- The deal list ---------------------------------------------------------------------------


def test_the_list_filters_by_status_and_stage(as_anna, anna, anna_deal):
    won = make_deal(anna, title="Выигранная сделка")
    services.deal_close(deal=won, by=anna, status="won")
    moved = make_deal(anna, title="Сделка на переговорах")
    services.deal_move(deal=moved, stage=stage(3), by=anna)

    page = html(as_anna.get("/deals/", {"status": "won"}))
    assert "Выигранная сделка" in page
    assert "Поставка серверов" not in page and "Сделка на переговорах" not in page

    page = html(as_anna.get("/deals/", {"stage": stage(3).pk}))
    assert "Сделка на переговорах" in page
    assert "Поставка серверов" not in page and "Выигранная сделка" not in page


def test_the_list_searches_by_title_and_contact(as_anna, anna, anna_deal):
    make_deal(anna, title="Ремонт офиса")
    page = html(as_anna.get("/deals/", {"q": "серверов"}))
    assert "Поставка серверов" in page and "Ремонт офиса" not in page
    page = html(as_anna.get("/deals/", {"q": "смирнов"}))
    assert "Поставка серверов" in page and "Ремонт офиса" not in page
    page = html(as_anna.get("/deals/", {"q": "ничего такого"}))
    assert "По этим фильтрам сделок нет" in page


def test_the_list_sorts_by_amount(as_anna, anna):
    make_deal(anna, title="Мелкая", amount=100)
    make_deal(anna, title="Крупная", amount=900000)
    make_deal(anna, title="Средняя", amount=5000)
    page = html(as_anna.get("/deals/", {"sort": "amount"}))
    assert page.index("Крупная") < page.index("Средняя") < page.index("Мелкая")


def test_the_list_paginates(as_anna, anna, settings):
    settings.UI_PAGE_SIZE = 2
    for n in range(5):
        make_deal(anna, title=f"Сделка номер {n}")
    first = html(as_anna.get("/deals/", {"q": "номер"}))
    assert "Страница 1 из 3" in first
    assert "?q=%D0%BD%D0%BE%D0%BC%D0%B5%D1%80&amp;page=2" in first
    last = html(as_anna.get("/deals/", {"q": "номер", "page": 3}))
    assert "Страница 3 из 3" in last
    assert last.count('class="table__title"') == 1
    assert "5 сделок" in first


def test_the_list_ignores_bad_filter_values(as_anna, anna_deal):
    response = as_anna.get("/deals/", {"stage": "abc", "status": "nope", "sort": "x", "page": "z"})
    assert response.status_code == 200
    assert "Поставка серверов" in html(response)


def test_the_list_shows_my_open_tasks(as_anna, anna_task):
    page = html(as_anna.get("/deals/"))
    assert "Мои задачи" in page and "Позвонить Петру" in page


# --- Kanban ----------------------------------------------------------------------------------


def test_the_board_shows_open_deals_in_their_stage_columns(as_anna, anna, anna_deal):
    won = make_deal(anna, title="Уже выиграна")
    services.deal_close(deal=won, by=anna, status="won")
    page = html(as_anna.get("/deals/board/"))
    for s in selectors.pipeline_stages(pipeline=anna_deal.pipeline):
        assert f'data-stage-id="{s.pk}"' in page
    column = page.split(f'data-stage-id="{stage(0).pk}"')[1].split("data-stage-id=")[0]
    assert "Поставка серверов" in column
    assert "Уже выиграна" not in page
    assert f'action="/deals/{anna_deal.pk}/move/"' in page
    assert "js/kanban.js" in page


def test_the_board_counts_only_visible_deals(as_anna, anna_deal, olga_deal):
    page = html(as_anna.get("/deals/board/"))
    column = page.split(f'data-stage-id="{stage(0).pk}"')[1].split("data-stage-id=")[0]
    assert '<span class="board__count" data-count>1</span>' in column


def test_a_crowded_column_links_to_the_rest_and_tells_the_script_what_is_hidden(
    as_anna, anna, anna_deal, settings
):
    settings.KANBAN_CARDS_PER_STAGE = 1
    make_deal(anna, title="Свежая", amount=1000)
    page = html(as_anna.get("/deals/board/"))
    column = page.split(f'data-stage-id="{stage(0).pk}"')[1].split("</section>")[0]
    assert '<span class="board__count" data-count>2</span>' in column
    assert "Свежая" in column and "Поставка серверов" not in column
    assert 'data-hidden-count="1"' in column
    assert "&quot;RUB&quot;: &quot;150000.00&quot;" in column
    assert f"?stage={stage(0).pk}&amp;status=open" in column


def test_moving_a_deal_changes_its_stage_and_writes_the_timeline(as_anna, anna_deal):
    response = as_anna.post(
        f"/deals/{anna_deal.pk}/move/", {"stage": stage(2).pk, "next": "/deals/board/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/deals/board/"
    anna_deal.refresh_from_db()
    assert anna_deal.stage == stage(2)
    entry = anna_deal.timeline.get(kind="stage_changed")
    assert entry.payload["from"] == stage(0).name
    assert entry.payload["to"] == stage(2).name
    page = html(as_anna.get(f"/deals/{anna_deal.pk}/"))
    assert f'id="entry-{entry.pk}"' in page


def test_moving_with_fetch_answers_json(as_anna, anna_deal):
    response = as_anna.post(f"/deals/{anna_deal.pk}/move/", {"stage": stage(1).pk}, **JSON)
    assert response.status_code == 200
    assert response.json() == {"deal": anna_deal.pk, "stage": stage(1).pk}


def test_moving_to_an_unknown_stage_is_a_bad_request(as_anna, anna_deal):
    assert as_anna.post(f"/deals/{anna_deal.pk}/move/", {"stage": 999999}).status_code == 400
    response = as_anna.post(f"/deals/{anna_deal.pk}/move/", {"stage": "x"}, **JSON)
    assert response.status_code == 400
    assert "stage" in response.json()["errors"]
    anna_deal.refresh_from_db()
    assert anna_deal.stage == stage(0)


def test_it_does_not_redirect_to_another_site_after_a_move(as_anna, anna_deal):
    response = as_anna.post(
        f"/deals/{anna_deal.pk}/move/", {"stage": stage(1).pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/deals/board/"


def test_state_changes_are_post_only(as_anna, anna_deal, anna_task):
    for url in [
        f"/deals/{anna_deal.pk}/move/", f"/deals/{anna_deal.pk}/status/",
        f"/deals/{anna_deal.pk}/notes/",
        f"/tasks/{anna_task.pk}/complete/", f"/contacts/{anna_deal.contact_id}/notes/",
    ]:
        assert as_anna.get(url).status_code == 405, url
    # GET of the deal's tasks/ is the card's folded form, and adds nothing.
    tasks = list(anna_deal.tasks.values_list("pk", flat=True))
    form = as_anna.get(f"/deals/{anna_deal.pk}/tasks/")
    assert form.status_code == 200 and 'name="title"' in form.content.decode()
    assert list(anna_deal.tasks.values_list("pk", flat=True)) == tasks


# --- Status ----------------------------------------------------------------------------------


def test_marking_a_deal_lost_requires_a_reason(as_anna, anna_deal):
    response = as_anna.post(f"/deals/{anna_deal.pk}/status/", {"status": "lost"})
    assert response.status_code == 200
    assert "Укажите, почему сделка проиграна." in html(response)
    anna_deal.refresh_from_db()
    assert anna_deal.status == "open"

    response = as_anna.post(
        f"/deals/{anna_deal.pk}/status/", {"status": "lost", "loss_reason": "Дорого"}
    )
    assert response.status_code == 302
    anna_deal.refresh_from_db()
    assert (anna_deal.status, anna_deal.loss_reason) == ("lost", "Дорого")
    page = html(as_anna.get(f"/deals/{anna_deal.pk}/"))
    assert "Дорого" in page and "Вернуть в работу" in page


def test_a_deal_can_be_won_and_reopened(as_anna, anna_deal):
    as_anna.post(f"/deals/{anna_deal.pk}/status/", {"status": "won"})
    anna_deal.refresh_from_db()
    assert anna_deal.status == "won"
    as_anna.post(f"/deals/{anna_deal.pk}/status/", {"status": "open"})
    anna_deal.refresh_from_db()
    assert anna_deal.status == "open"
    assert anna_deal.timeline.filter(kind="status_changed").count() == 2


# --- Notes, tasks, the timeline --------------------------------------------------------------


def test_adding_a_note_shows_it_on_the_timeline(as_anna, anna_deal):
    response = as_anna.post(f"/deals/{anna_deal.pk}/notes/", {"text": "Клиент просит скидку"})
    assert response.status_code == 302
    assert response["Location"] == f"/deals/{anna_deal.pk}/#timeline"
    page = html(as_anna.get(f"/deals/{anna_deal.pk}/"))
    assert "Клиент просит скидку" in page
    assert page.index("Клиент просит скидку") < page.index("Сделка создана на этапе")


def test_adding_a_note_with_fetch_returns_the_rendered_entry(as_anna, anna_deal):
    response = as_anna.post(f"/deals/{anna_deal.pk}/notes/", {"text": "Через fetch"}, **JSON)
    assert response.status_code == 200
    data = response.json()
    entry = TimelineEntry.objects.get(pk=data["entry"])
    assert entry.kind == "note" and entry.deal == anna_deal
    assert f'id="entry-{entry.pk}"' in data["html"]
    assert "Через fetch" in data["html"]


def test_an_empty_note_is_refused(as_anna, anna_deal):
    response = as_anna.post(f"/deals/{anna_deal.pk}/notes/", {"text": "   "}, **JSON)
    assert response.status_code == 400
    assert "text" in response.json()["errors"]
    response = as_anna.post(f"/deals/{anna_deal.pk}/notes/", {"text": ""})
    assert response.status_code == 200
    assert "field--invalid" in html(response)
    assert not Note.objects.exists()


def test_the_timeline_fragment_renders_one_entry(as_anna, anna_deal):
    note = services.note_add(by=anna_deal.owner, text="Фрагмент", deal=anna_deal)
    entry = anna_deal.timeline.get(kind="note", source_id=note.pk)
    response = as_anna.get(f"/deals/{anna_deal.pk}/timeline/{entry.pk}/")
    assert response.status_code == 200
    page = html(response)
    assert page.strip().startswith("<li")
    assert f'data-entry-id="{entry.pk}"' in page and "Фрагмент" in page
    assert "<html" not in page
    assert reverse("deal_timeline_entry", args=[anna_deal.pk, entry.pk]) == (
        f"/deals/{anna_deal.pk}/timeline/{entry.pk}/"
    )


def test_the_timeline_shows_older_entries_on_request(as_anna, anna, anna_deal, monkeypatch):
    monkeypatch.setattr(deal_views, "TIMELINE_PAGE", 2)
    for n in range(4):
        services.note_add(by=anna, text=f"Заметка {n}", deal=anna_deal)
    page = html(as_anna.get(f"/deals/{anna_deal.pk}/"))
    assert "Заметка 3" in page and "Заметка 2" in page and "Заметка 1" not in page
    assert "Показать раньше" in page
    note_2 = Note.objects.get(text="Заметка 2")
    oldest_shown = anna_deal.timeline.get(kind="note", source_id=note_2.pk)

    older = html(as_anna.get(f"/deals/{anna_deal.pk}/", {"before": oldest_shown.pk}))
    assert "Заметка 1" in older and "Заметка 0" in older and "Заметка 3" not in older

    data = as_anna.get(f"/deals/{anna_deal.pk}/timeline/", {"before": oldest_shown.pk}).json()
    assert "Заметка 1" in data["html"] and "Заметка 0" in data["html"]
    assert data["older"]  # the "deal created" entry is still further back
    last = as_anna.get(data["older"]).json()
    assert "Сделка создана" in last["html"] and last["older"] is None


def test_adding_a_task_defaults_to_the_owner_and_lists_it(as_anna, anna, anna_deal):
    response = as_anna.post(
        f"/deals/{anna_deal.pk}/tasks/",
        {"title": "Отправить КП", "due_at": "2030-01-15T10:30", "assignee": anna.pk},
    )
    assert response.status_code == 302
    task = Task.objects.get(title="Отправить КП")
    assert task.assignee == anna and task.deal == anna_deal
    assert task.due_at.isoformat().startswith("2030-01-15T07:30")  # 10:30 in Moscow
    page = html(as_anna.get(f"/deals/{anna_deal.pk}/"))
    assert "Отправить КП" in page
    assert f'action="/tasks/{task.pk}/complete/"' in page


def test_a_task_due_in_the_past_is_refused_by_the_form(as_anna, anna, anna_deal):
    response = as_anna.post(
        f"/deals/{anna_deal.pk}/tasks/",
        {"title": "Отправить КП", "due_at": "2025-12-08T10:30", "assignee": anna.pk},
    )
    assert response.status_code == 200  # the card again, with the form's error
    assert "Срок уже прошёл" in html(response)
    assert not Task.objects.filter(title="Отправить КП").exists()
    response = as_anna.post(f"/deals/{anna_deal.pk}/tasks/",
                            {"title": "Созвон", "due_at": "2020-01-01T10:00",
                             "assignee": anna.pk}, **JSON)
    assert response.status_code == 400 and "due_at" in response.json()["errors"]


@pytest.mark.parametrize("path", ["deal", "tasks", "deals"])
def test_a_due_date_shows_its_year_when_not_this_years(as_anna, anna, anna_deal, path):
    from django.utils import timezone, translation
    from django.utils.formats import date_format

    this_year = timezone.localdate().year
    services.task_create(by=anna, title="В этом году", deal=anna_deal,
                         due_at=timezone.now() + timedelta(minutes=5))
    services.task_create(by=anna, title="В следующем", deal=anna_deal, due_at=timezone.make_aware(
        datetime(this_year + 1, 3, 2, 11, 0)))
    url = {"deal": f"/deals/{anna_deal.pk}/", "tasks": "/tasks/", "deals": "/deals/"}[path]
    page = html(as_anna.get(url))
    assert f"2 марта {this_year + 1}, 11:00" in page
    soon = Task.objects.get(title="В этом году").due_at
    if timezone.localtime(soon).year == this_year:  # not in the last minutes of a year
        with translation.override("ru"):
            assert f">{date_format(timezone.localtime(soon), 'j E, H:i')}</time>" in page


def test_adding_a_task_with_fetch_returns_the_entry_and_the_task_list(as_anna, anna, anna_deal):
    response = as_anna.post(
        f"/deals/{anna_deal.pk}/tasks/", {"title": "Созвон", "assignee": anna.pk}, **JSON
    )
    data = response.json()
    assert "Созвон" in data["html"] and "Созвон" in data["tasks_html"]
    response = as_anna.post(f"/deals/{anna_deal.pk}/tasks/", {"title": ""}, **JSON)
    assert response.status_code == 400
    assert "title" in response.json()["errors"]


def test_a_task_cannot_be_given_to_someone_outside_the_team(as_anna, olga, anna_deal):
    response = as_anna.post(
        f"/deals/{anna_deal.pk}/tasks/", {"title": "Чужому", "assignee": olga.pk}
    )
    assert response.status_code == 200
    assert "field--invalid" in html(response)
    assert not Task.objects.filter(title="Чужому").exists()


def test_completing_a_task_removes_it_and_writes_the_timeline(as_anna, anna_deal, anna_task):
    response = as_anna.post(f"/tasks/{anna_task.pk}/complete/")
    assert response.status_code == 302
    assert response["Location"] == f"/deals/{anna_deal.pk}/"
    anna_task.refresh_from_db()
    assert anna_task.done
    assert anna_deal.timeline.filter(kind="task_done").exists()
    assert "Открытых задач нет." in html(as_anna.get(f"/deals/{anna_deal.pk}/"))


def test_completing_a_task_with_fetch_returns_the_new_task_list(as_anna, anna_deal, anna_task):
    data = as_anna.post(f"/tasks/{anna_task.pk}/complete/", **JSON).json()
    assert data["task"] == anna_task.pk
    assert "Позвонить Петру" in data["html"]
    assert "Позвонить Петру" not in data["tasks_html"]


def test_my_tasks_page_lists_open_tasks(as_anna, anna_task):
    page = html(as_anna.get("/tasks/"))
    assert "Позвонить Петру" in page
    assert f'href="/deals/{anna_task.deal_id}/"' in page


# --- Deal forms ------------------------------------------------------------------------------


def test_a_deal_is_created_from_the_form(as_anna, anna, anna_contact):
    response = as_anna.post("/deals/new/", {
        "title": "Новый проект", "amount": "250 000,50", "currency": "RUB",
        "stage": stage(1).pk, "contact": anna_contact.pk, "next_step": "Позвонить",
        "expected_close": "2030-03-01",
    })
    deal = Deal.objects.get(title="Новый проект")
    assert response.status_code == 302 and response["Location"] == f"/deals/{deal.pk}/"
    assert deal.owner == anna and deal.stage == stage(1)
    assert deal.amount == Decimal("250000.50")
    assert deal.contact == anna_contact


def test_the_new_deal_form_starts_from_a_contact(as_anna, anna_contact):
    page = html(as_anna.get("/deals/new/", {"contact": anna_contact.pk}))
    assert f'<option value="{anna_contact.pk}" selected>' in page


@pytest.mark.parametrize(
    "changes, field",
    [({"title": ""}, "title"), ({"amount": "-5"}, "amount"), ({"amount": "много"}, "amount"),
     ({"stage": "999999"}, "stage"), ({"expected_close": "завтра"}, "expected_close")],
)
def test_a_bad_deal_form_shows_the_error_and_saves_nothing(as_anna, anna_deal, changes, field):
    data = {"title": "Новый", "amount": "10", "currency": "RUB", "stage": stage(0).pk, **changes}
    response = as_anna.post("/deals/new/", data)
    assert response.status_code == 200
    page = html(response)
    assert f'id="id_{field}_error"' in page
    assert re.search(rf'id="id_{field}_error"[^>]*>\s*<li>', page)
    assert 'aria-invalid="true"' in page
    assert Deal.objects.count() == 1

    response = as_anna.post(f"/deals/{anna_deal.pk}/edit/", data)
    assert response.status_code == 200
    anna_deal.refresh_from_db()
    assert anna_deal.title == "Поставка серверов" and anna_deal.amount == 150000


def test_a_deal_cannot_use_a_contact_the_user_cannot_see(as_anna, olga_deal):
    response = as_anna.post("/deals/new/", {
        "title": "Хитрая", "currency": "RUB", "stage": stage(0).pk, "contact": olga_deal.contact_id,
    })
    assert response.status_code == 200
    assert 'id="id_contact_error"' in html(response)
    assert not Deal.objects.filter(title="Хитрая").exists()


def test_editing_a_deal_saves_it(as_anna, anna_deal):
    response = as_anna.post(f"/deals/{anna_deal.pk}/edit/", {
        "title": "Поставка серверов и СХД", "amount": "200000", "currency": "RUB",
        "stage": stage(1).pk, "contact": anna_deal.contact_id, "next_step": "Демо",
    })
    assert response.status_code == 302
    anna_deal.refresh_from_db()
    assert anna_deal.title == "Поставка серверов и СХД"
    assert anna_deal.amount == 200000 and anna_deal.stage == stage(1)
    assert anna_deal.timeline.filter(kind="stage_changed").exists()


def test_a_head_can_give_a_deal_to_a_teammate(client, head_north, ivan, anna_deal):
    client.force_login(head_north)
    page = html(client.get(f"/deals/{anna_deal.pk}/edit/"))
    assert 'name="owner"' in page
    client.post(f"/deals/{anna_deal.pk}/edit/", {
        "title": anna_deal.title, "amount": "150000", "currency": "RUB", "stage": stage(0).pk,
        "contact": anna_deal.contact_id, "owner": ivan.pk,
    })
    anna_deal.refresh_from_db()
    assert anna_deal.owner == ivan
    assert anna_deal.timeline.filter(kind="owner_changed").exists()


def test_a_manager_cannot_give_a_deal_away(as_anna, anna, anna_deal, ivan):
    assert 'name="owner"' not in html(as_anna.get(f"/deals/{anna_deal.pk}/edit/"))
    as_anna.post(f"/deals/{anna_deal.pk}/edit/", {
        "title": anna_deal.title, "amount": "1", "currency": "RUB", "stage": stage(0).pk,
        "owner": ivan.pk,
    })
    anna_deal.refresh_from_db()
    assert anna_deal.owner == anna


# --- Contacts and companies ------------------------------------------------------------------


def test_a_contact_is_created_with_normalized_phones_and_emails(as_anna, anna):
    response = as_anna.post("/contacts/new/", {
        "name": "Мария Иванова", "position": "Директор", "source": "website",
        "phones": "8 916 765-43-21\n\n+7 (495) 123-45-67", "emails": "Maria@Example.COM",
        "tags": "vip, опт",
    })
    contact = Contact.objects.get(name="Мария Иванова")
    assert response.status_code == 302 and response["Location"] == f"/contacts/{contact.pk}/"
    assert [p.value for p in contact.points.filter(kind="phone")] == [
        "+79167654321", "+74951234567",
    ]
    assert contact.points.get(kind="email").value == "Maria@example.com"
    assert sorted(t.name for t in contact.tags.all()) == ["vip", "опт"]
    assert contact.owner == anna


def test_a_bad_phone_is_shown_next_to_the_field_and_nothing_is_saved(as_anna):
    response = as_anna.post("/contacts/new/", {
        "name": "Без телефона", "source": "manual", "phones": "+7 916 123-45-67\n12345",
        "emails": "not-an-email",
    })
    assert response.status_code == 200
    page = html(response)
    phones_errors = page.split('id="id_phones_error"')[1].split("</ul>")[0]
    assert "12345" in phones_errors
    emails_errors = page.split('id="id_emails_error"')[1].split("</ul>")[0]
    assert "not-an-email" in emails_errors
    assert not Contact.objects.filter(name="Без телефона").exists()


def test_an_empty_contact_name_is_refused(as_anna):
    response = as_anna.post("/contacts/new/", {"name": "", "source": "manual"})
    assert response.status_code == 200
    assert re.search(r'id="id_name_error"[^>]*>\s*<li>', html(response))
    assert not Contact.objects.exists()


def test_editing_a_contact_adds_and_removes_phones(as_anna, anna_contact):
    old = anna_contact.points.get(kind="phone")
    response = as_anna.post(f"/contacts/{anna_contact.pk}/edit/", {
        "name": "Пётр Смирнов", "source": "manual", "phones": "+7 916 000-00-01",
        "emails": "", "tags": "", "remove_points": [str(old.pk)],
    })
    assert response.status_code == 302
    assert sorted(p.value for p in anna_contact.points.all()) == [
        "+79160000001", "Petr@example.ru"
    ]


def test_the_contact_edit_form_never_holds_full_values_for_a_manager(as_anna, anna_contact):
    page = html(as_anna.get(f"/contacts/{anna_contact.pk}/edit/"))
    assert "+79161234567" not in page and "Petr@example.ru" not in page
    assert "+7 *** ***-45-67" in page and 'name="remove_points"' in page
    assert "Пётр Смирнов" in page


def test_the_contact_card_shows_details_deals_and_timeline(as_anna, anna, anna_deal,
                                                           anna_company):
    services.note_add(by=anna, text="Любит звонки после обеда", contact=anna_deal.contact)
    services.note_add(by=anna, text="Заметка по сделке", deal=anna_deal)
    page = html(as_anna.get(f"/contacts/{anna_deal.contact_id}/"))
    assert "Пётр Смирнов" in page and "+7 *** ***-45-67" in page and "ООО «Ромашка»" in page
    assert f'href="/deals/{anna_deal.pk}/"' in page
    assert "Любит звонки после обеда" in page and "Заметка по сделке" in page


def test_a_contact_note_can_be_added(as_anna, anna_contact):
    response = as_anna.post(f"/contacts/{anna_contact.pk}/notes/", {"text": "Перезвонить"})
    assert response.status_code == 302
    assert "Перезвонить" in html(as_anna.get(f"/contacts/{anna_contact.pk}/"))


def test_the_contact_timeline_hides_entries_of_deals_the_user_cannot_see(
    client, head_north, ivan, anna, anna_deal
):
    ivans_deal = services.deal_create(by=head_north, title="Сделка Ивана", owner=ivan,
                                      contact=anna_deal.contact)
    services.note_add(by=ivan, text="Секрет сделки", deal=ivans_deal)
    services.note_add(by=anna, text="Общая заметка", contact=anna_deal.contact)
    client.force_login(anna)
    page = html(client.get(f"/contacts/{anna_deal.contact_id}/"))
    assert "Общая заметка" in page
    assert "Секрет сделки" not in page
    assert "Сделка Ивана" not in page


def test_marketing_sees_the_contact_but_no_notes_or_deals(client, marketer, anna, anna_deal):
    services.note_add(by=anna, text="Секрет сделки", deal=anna_deal)
    services.note_add(by=anna, text="Общая заметка", contact=anna_deal.contact)
    client.force_login(marketer)
    page = html(client.get(f"/contacts/{anna_deal.contact_id}/"))
    assert "Пётр Смирнов" in page
    assert "Общая заметка" not in page and "Секрет сделки" not in page
    assert "Поставка серверов" not in page


def test_the_company_card_shows_its_contacts_and_deals(as_anna, anna_deal, anna_company):
    services.deal_update(deal=anna_deal, by=anna_deal.owner, company=anna_company)
    page = html(as_anna.get(f"/companies/{anna_company.pk}/"))
    assert "ООО «Ромашка»" in page and "7701234567" in page
    assert "Пётр Смирнов" in page and "Поставка серверов" in page


def test_a_company_is_created_and_validated(as_anna):
    response = as_anna.post("/companies/new/", {"name": "", "inn": "12", "website": "нет"})
    assert response.status_code == 200
    page = html(response)
    for field in ("name", "inn", "website"):
        assert re.search(rf'id="id_{field}_error"[^>]*>\s*<li>', page), field
    assert not Company.objects.exists()
    response = as_anna.post("/companies/new/", {"name": "ООО «Лютик»", "inn": "7707083893"})
    company = Company.objects.get(name="ООО «Лютик»")
    assert response["Location"] == f"/companies/{company.pk}/"


def test_a_company_is_edited(as_anna, anna_company):
    as_anna.post(f"/companies/{anna_company.pk}/edit/", {"name": "ООО «Ромашка+»"})
    anna_company.refresh_from_db()
    assert anna_company.name == "ООО «Ромашка+»"


def test_contact_and_company_lists_search_and_paginate(as_anna, anna, settings, anna_company):
    settings.UI_PAGE_SIZE = 2
    for n in range(3):
        make_contact(anna, name=f"Клиентка {n}")
    page = html(as_anna.get("/contacts/", {"q": "клиентка"}))
    assert "Клиентка 0" in page and "Пётр Смирнов" not in page
    assert "Страница 1 из 2" in page
    assert "Клиентка 2" in html(as_anna.get("/contacts/", {"q": "клиентка", "page": 2}))
    assert "Пётр Смирнов" in html(as_anna.get("/contacts/", {"q": "ромашка"}))
    page = html(as_anna.get("/companies/", {"q": "7701234567"}))
    assert "ООО «Ромашка»" in page
    assert "ООО «Ромашка»" not in html(as_anna.get("/companies/", {"q": "лютик"}))


# --- Roles -----------------------------------------------------------------------------------


def test_a_marketer_sees_contacts_and_companies_but_no_deals(client, marketer, anna_deal,
                                                              anna_company):
    client.force_login(marketer)
    page = html(client.get("/deals/"))
    assert "Поставка серверов" not in page
    assert 'href="/deals/"' not in page and 'href="/deals/board/"' not in page
    assert 'href="/contacts/"' in page and 'href="/companies/"' in page
    assert client.get(f"/deals/{anna_deal.pk}/").status_code == 404
    assert "Пётр Смирнов" in html(client.get("/contacts/"))
    assert client.get(f"/contacts/{anna_deal.contact_id}/").status_code == 200
    assert client.get(f"/companies/{anna_company.pk}/").status_code == 200
    assert client.get("/deals/new/").status_code == 403
    assert client.post("/deals/new/", {"title": "x", "stage": stage(0).pk}).status_code == 403
    assert client.get("/contacts/new/").status_code == 403
    assert client.get(f"/contacts/{anna_deal.contact_id}/edit/").status_code == 403
    assert not Deal.objects.filter(title="x").exists()


def test_the_security_officer_sees_no_client_content(client, security_officer, anna_deal,
                                                     anna_company):
    client.force_login(security_officer)
    for url in ["/deals/", "/deals/board/", "/contacts/", "/companies/", "/tasks/"]:
        page = html(client.get(url))
        assert "Поставка серверов" not in page and "Пётр Смирнов" not in page, url
        assert "Ромашка" not in page, url
    assert 'href="/contacts/"' not in html(client.get("/deals/"))
    for url in [f"/deals/{anna_deal.pk}/", f"/contacts/{anna_deal.contact_id}/",
                f"/companies/{anna_company.pk}/"]:
        assert client.get(url).status_code == 404, url


# --- Speed ----------------------------------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_pages_do_not_query_once_per_row(client, head_north, anna, anna_company):
    """Ten times the rows must not mean more queries (no N+1 on lists, board and card)."""
    client.force_login(head_north)
    client.get("/tasks/")  # a session's first request records its activity (one write)

    def grow(n):
        for i in range(n):
            contact = make_contact(anna, name=f"Клиент {i}", phones=[f"+7916000{i:04d}"],
                                   company=anna_company)
            deal = make_deal(anna, contact=contact, amount=1000 + i)
            services.note_add(by=anna, text=f"Заметка {i}", deal=deal)
            services.task_create(by=anna, title=f"Задача {i}", deal=deal, assignee=head_north)
        return deal

    deal = grow(2)
    client.get("/deals/")  # the first read loads the anomaly rules' settings (then cached)
    urls = ["/deals/", "/deals/board/", "/contacts/", "/companies/", "/tasks/",
            f"/companies/{anna_company.pk}/"]
    before = {url: _queries(client, url) for url in urls}
    for i in range(8):
        services.note_add(by=anna, text=f"Ещё {i}", deal=deal)
    card_before = _queries(client, f"/deals/{deal.pk}/")
    grow(10)
    for i in range(8):
        services.task_create(by=anna, title=f"Ещё задача {i}", deal=deal)
    for url in urls:
        assert _queries(client, url) == before[url], url
    assert _queries(client, f"/deals/{deal.pk}/") <= card_before + 1


# --- Escaping, language, house rules ---------------------------------------------------------


def test_client_text_is_escaped_everywhere(as_anna, anna):
    contact = make_contact(anna, name=XSS, position=XSS)
    deal = make_deal(anna, title=XSS, contact=contact, next_step=XSS)
    services.note_add(by=anna, text=XSS, deal=deal)
    services.task_create(by=anna, title=XSS, deal=deal)
    pages = [f"/deals/{deal.pk}/", "/deals/", "/deals/board/", f"/contacts/{contact.pk}/",
             "/contacts/", "/tasks/", f"/deals/{deal.pk}/edit/"]
    for url in pages:
        page = html(as_anna.get(url))
        assert XSS_ESCAPED in page, url
        assert XSS not in page, url
    entry = deal.timeline.get(kind="note")
    fragment = html(as_anna.get(f"/deals/{deal.pk}/timeline/{entry.pk}/"))
    assert XSS_ESCAPED in fragment and XSS not in fragment
    data = as_anna.post(f"/deals/{deal.pk}/notes/", {"text": XSS}, **JSON).json()
    assert XSS_ESCAPED in data["html"] and XSS not in data["html"]


def test_russian_is_the_default_language(as_anna, anna_deal):
    page = html(as_anna.get("/deals/"))
    assert '<html lang="ru">' in page
    assert "Мои сделки" in page and "Новая сделка" in page


def test_an_english_browser_still_gets_russian_until_the_user_switches(as_anna, anna_deal):
    page = html(as_anna.get("/deals/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9"))
    assert '<html lang="ru">' in page and "Мои сделки" in page


def test_an_unknown_language_cookie_falls_back_to_russian(as_anna, anna_deal):
    as_anna.cookies["django_language"] = "xx"
    assert '<html lang="ru">' in html(as_anna.get("/deals/"))


def test_the_language_can_be_switched_to_english(as_anna, anna_deal):
    page = html(as_anna.get("/deals/"))
    assert 'action="/i18n/setlang/"' in page
    assert 'name="language" value="en"' in page
    response = as_anna.post("/i18n/setlang/", {"language": "en", "next": "/deals/"})
    assert response.status_code == 302 and response["Location"] == "/deals/"
    page = html(as_anna.get("/deals/"))
    assert '<html lang="en">' in page
    assert "My deals" in page and "New deal" in page and "Мои сделки" not in page
    card = html(as_anna.get(f"/deals/{anna_deal.pk}/"))
    assert "The deal was created at the stage" in card
    as_anna.post("/i18n/setlang/", {"language": "ru", "next": "/deals/"})
    assert "Мои сделки" in html(as_anna.get("/deals/"))


def test_the_login_page_has_the_language_switcher(client):
    page = html(client.get("/login/"))
    assert 'action="/i18n/setlang/"' in page and "Вход" in page


def test_views_never_mark_client_data_safe():
    # Reads go through the selectors (tests/test_selector_lint.py, every app's views).
    for path in [*(ROOT / "crm/views").glob("*.py"), ROOT / "crm/forms.py"]:
        source = path.read_text()
        assert "|safe" not in source and "mark_safe" not in source, path


def test_templates_never_mark_client_data_safe():
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        assert "|safe" not in text and "autoescape off" not in text, path


def test_the_committed_translations_are_compiled():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compile_messages.py"), "--check"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_admin_configures_pipelines_and_stages(client, director, anna_deal):
    client.force_login(director)
    pipeline = selectors.default_pipeline()
    page = client.get(f"/admin/crm/pipeline/{pipeline.pk}/change/")
    assert page.status_code == 200
    assert "Квалификация" in page.content.decode()
    assert client.get("/admin/crm/deal/").status_code == 200
    assert client.get(f"/admin/crm/deal/{anna_deal.pk}/change/").status_code == 200
    assert client.get(f"/admin/crm/contact/{anna_deal.contact_id}/change/").status_code == 200


def test_a_manager_has_no_admin(client, anna):
    client.force_login(anna)
    response = client.get("/admin/crm/deal/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_status_without_the_admin_role_opens_no_admin(client, head_north):
    head_north.is_staff = True
    head_north.save()
    client.force_login(head_north)
    response = client.get("/admin/crm/deal/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
