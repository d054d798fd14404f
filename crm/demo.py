"""The demo: who logs in, what it holds, and the builder that writes it (crm's records;
each app adds its own through core.holdings). Used by `manage.py seed_demo`."""

import hashlib
import math
import os
import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from core.holdings import declared
from crm import services
from crm.management import demo_data as data
from crm.models import Company, Contact, Deal, Note, Task, TimelineEntry
from crm.selectors import default_pipeline
from security import roles
from security.models import Team

SEED = 152  # after 152-FZ; any fixed number makes every run build the same demo
HISTORY_DAYS = 90


# --- What the demo is ------------------------------------------------------------------------


def demo_url() -> str:
    host = os.environ.get("HOST") or "127.0.0.1"
    if host in {"0.0.0.0", "::", "[::]"}:
        host = "127.0.0.1"
    return f"http://{host}:{os.environ.get('PORT') or '8000'}/"


def demo_token(purpose: str) -> str:
    """A value that is the same on every run of one installation and differs between
    installations (derived from SECRET_KEY), so `--json` can tell it without the database."""
    return hashlib.sha256(f"seed_demo:{purpose}:{settings.SECRET_KEY}".encode()).hexdigest()


def site_origins() -> list[str]:
    """The demo site is served by the CRM itself (`/demo/site/`), under either loopback name."""
    origins = ["http://127.0.0.1:8000", "http://localhost:8000", demo_url().rstrip("/")]
    return list(dict.fromkeys(origins))


def describe() -> dict:
    """The demo's logins and shape, for `--json` (read by scripts and the e2e tests)."""
    return {
        "users": [
            {
                "username": username,
                "name": f"{first} {last}",
                "role": role,
                "team": team,
                "password": data.PASSWORD,
            }
            for username, role, team, first, last in data.STAFF
        ],
        "teams": [
            {
                "name": team["name"],
                "head": team["head"],
                "managers": [s[0] for s in data.STAFF
                             if s[2] == team["name"] and s[1] == roles.MANAGER],
            }
            for team in data.TEAMS
        ],
        "url": demo_url(),
        # What each app adds: the channels, the PBX (core.holdings: demo_describe).
        **{key: value for h in declared() if h.demo_describe
           for key, value in h.demo_describe().items()},
        "counts": {
            "companies": data.COMPANY_COUNT,
            "contacts": data.CONTACT_COUNT,
            "deals": data.DEAL_COUNT,
        },
    }


def demo_present() -> bool:
    return get_user_model().objects.filter(
        username=data.MARKER_USERNAME, email=data.MARKER_EMAIL
    ).exists()


def other_data() -> dict[str, int]:
    """What the database already holds, by kind (empty when there is nothing)."""
    counts = {
        "users": get_user_model().objects.count(),
        "companies": Company.objects.count(),
        "contacts": Contact.objects.count(),
        "deals": Deal.objects.count(),
    }
    return {kind: n for kind, n in counts.items() if n}


# --- The builder -----------------------------------------------------------------------------


class DemoBuilder:
    """Writes the demo through crm.services (so the timeline is the real one), then moves the
    dates of what it wrote into the past with bulk updates; then each app adds its part
    (core.holdings: demo), given this builder: its users, contacts_of, office_hours(),
    days_ago()."""

    def __init__(self, rng: random.Random, now):
        self.rng = rng
        self.now = now
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.users: dict[str, object] = {}
        self.companies: list[Company] = []
        self.contacts_of: dict[str, list[Contact]] = defaultdict(list)
        self.domain_of: dict[int, str] = {}
        self.deals: list[Deal] = []
        self.status_of: dict[int, str] = {}
        self.contact_notes: list[Note] = []
        self._phones: set[str] = set()
        self._people: set[str] = set()

    @transaction.atomic
    def build(self) -> dict[str, int]:
        self._staff()
        self._companies_and_contacts()
        self._deals()
        self._contact_notes()
        self._backdate()
        # Each app's part (core.holdings: demo): channels, the PBX, consents.
        more: dict[str, int] = {}
        for holdings in declared():
            if holdings.demo:
                more.update(holdings.demo(self))
        return {
            "users": len(self.users),
            "companies": len(self.companies),
            "contacts": sum(len(c) for c in self.contacts_of.values()),
            "deals": len(self.deals),
            "tasks": Task.objects.filter(assignee__in=self.users.values()).count(),
            "notes": Note.objects.filter(author__in=self.users.values()).count(),
            **more,
        }

    # --- Staff -------------------------------------------------------------------------------

    def _staff(self) -> None:
        User = get_user_model()  # noqa: N806
        teams = {t["name"]: Team.objects.get_or_create(name=t["name"])[0] for t in data.TEAMS}
        groups = {g.name: g for g in Group.objects.filter(name__in=roles.ROLES)}
        # One hash for all: PBKDF2 takes a good part of a second per call, on purpose.
        password = make_password(data.PASSWORD)
        joined = self.now - timedelta(days=HISTORY_DAYS + 30)
        for username, role, team, first, last in data.STAFF:
            is_admin = role == roles.ADMIN
            user, _created = User.objects.update_or_create(
                username=username,
                defaults={
                    "first_name": first, "last_name": last,
                    "email": f"{username}@{data.STAFF_EMAIL_DOMAIN}",
                    "team": teams.get(team), "password": password, "is_active": True,
                    "is_staff": is_admin, "is_superuser": is_admin, "date_joined": joined,
                },
            )
            user.groups.set([groups[role]])
            self.users[username] = User.objects.select_related("team").get(pk=user.pk)
        for team in data.TEAMS:
            teams[team["name"]].head = self.users[team["head"]]
            teams[team["name"]].save(update_fields=["head"])

    # --- Companies and contacts --------------------------------------------------------------

    def _companies_and_contacts(self) -> None:
        rng = self.rng
        names = rng.sample(
            [(root, kind) for root in data.COMPANY_ROOTS for kind in data.COMPANY_KINDS],
            data.COMPANY_COUNT,
        )
        extra = data.CONTACT_COUNT - 2 * data.COMPANY_COUNT  # companies with a third contact
        sizes = [3] * extra + [2] * (data.COMPANY_COUNT - extra)
        rng.shuffle(sizes)
        forms = [f for f, _w in data.LEGAL_FORMS]
        weights = [w for _f, w in data.LEGAL_FORMS]
        inns: set[str] = set()
        for i, ((root, (suffix, industry)), size) in enumerate(zip(names, sizes, strict=True)):
            manager = self.users[data.MANAGERS[i % len(data.MANAGERS)]]
            city, region = rng.choice(data.CITIES[manager.team.name])
            while True:
                inn = data.inn_with_checksum(
                    f"{region}{rng.randint(1, 45):02d}{rng.randrange(100_000):05d}"
                )
                if inn not in inns:
                    inns.add(inn)
                    break
            domain = f"{data.translit(root)}-{data.translit(suffix)}.ru"
            address = f"{city}, {rng.choice(data.STREETS)}, д. {rng.randint(1, 120)}"
            if rng.random() < 0.4:
                address += f", офис {rng.randint(2, 450)}"
            company = services.company_create(
                by=manager,
                name=f"{rng.choices(forms, weights)[0]} «{root}-{suffix}»",
                inn=inn,
                industry=industry,
                website=f"https://{domain}/" if rng.random() < 0.8 else "",
                address=address,
            )
            self.companies.append(company)
            self.domain_of[company.pk] = domain
            for position in rng.sample(data.POSITIONS, size):
                self.contacts_of[manager.username].append(
                    self._contact(manager, company, domain, position)
                )

    def _person(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            if rng.random() < 0.5:
                first, last = rng.choice(data.MALE_FIRST), rng.choice(data.SURNAMES)
            else:
                first = rng.choice(data.FEMALE_FIRST)
                last = data.female_surname(rng.choice(data.SURNAMES))
            if f"{first} {last}" not in self._people:
                self._people.add(f"{first} {last}")
                return first, last

    def _phone(self) -> str:
        """A fresh Russian mobile number, written the way people type them."""
        rng = self.rng
        while True:
            code, rest = rng.choice(data.MOBILE_CODES), f"{rng.randrange(10_000_000):07d}"
            if f"+7{code}{rest}" not in self._phones:
                self._phones.add(f"+7{code}{rest}")
                break
        return rng.choice([
            f"+7 ({code}) {rest[:3]}-{rest[3:5]}-{rest[5:]}",
            f"8 {code} {rest[:3]} {rest[3:5]} {rest[5:]}",
            f"+7{code}{rest}",
        ])

    def _contact(self, manager, company: Company, domain: str, position: str) -> Contact:
        rng = self.rng
        first, last = self._person()
        phones = [self._phone()] if rng.random() < 0.92 else []
        if rng.random() < 0.15:
            phones.append(self._phone())
        emails = []
        if rng.random() < 0.9 or not phones:
            emails.append(f"{data.translit(first)[0]}.{data.translit(last)}@{domain}")
        if rng.random() < 0.1:
            emails.append(f"zakupki@{domain}")
        source = rng.choices(
            list(Contact.Source),
            weights=[10, 18, 16, 10, 9, 8, 3, 2, 12, 8, 4],
        )[0]
        tags = [rng.choice(data.TAGS)] if rng.random() < 0.2 else None
        return services.contact_create(
            by=manager, name=f"{first} {last}", position=position, company=company,
            phones=phones, emails=emails, source=source, tags=tags,
        )

    # --- Deals -------------------------------------------------------------------------------

    def _deals(self) -> None:
        rng = self.rng
        stages = list(default_pipeline().stages.order_by("position"))
        last = len(stages) - 1
        # Where each deal ends up: open at every stage, won at the last, lost anywhere.
        won, lost = 26, 22
        open_count = data.DEAL_COUNT - won - lost
        per_stage = [open_count // len(stages)] * len(stages)
        for i in range(open_count - sum(per_stage)):
            per_stage[i] += 1
        plan = [("won", last)] * won
        plan += [("lost", rng.randint(0, last - 1)) for _ in range(lost)]
        plan += [("open", pos) for pos, n in enumerate(per_stage) for _ in range(n)]
        rng.shuffle(plan)
        for i, (status, target) in enumerate(plan):
            manager = self.users[data.MANAGERS[i % len(data.MANAGERS)]]
            self._deal(manager, stages, status, target)

    def _deal(self, manager, stages, status: str, target: int) -> None:
        rng = self.rng
        head = self.users[f"head_{manager.team.name}"]
        contact = rng.choice(self.contacts_of[manager.username])
        first = contact.name.split()[0]
        product, low, high = rng.choice(data.PRODUCTS)
        product = product.format(n=rng.choice([10, 15, 20, 25, 30, 40, 50, 60, 80, 120]))
        short_name = contact.company.name.split("«", 1)[1].rstrip("»")
        amount = math.exp(rng.uniform(math.log(low), math.log(high)))
        step = 10_000 if amount > 1_000_000 else 1_000
        deal = services.deal_create(
            by=manager,
            title=f"{product} — {short_name}",
            stage=stages[0],
            amount=Decimal(round(amount / step) * step),
            contact=contact,
            next_step=rng.choice(data.NEXT_STEPS) if status == "open" else "",
        )

        def note(by=manager, texts=data.NOTES):
            text = rng.choice(texts).format(
                first=first,
                position_lc=(contact.position or "директор").lower(),
                discount=rng.choice([3, 5, 7, 10]),
                vacation=f"{rng.randint(10, 28)}.{rng.randint(1, 12):02d}",
                deadline=f"{rng.randint(10, 28)}.{rng.randint(1, 12):02d}",
            )
            services.note_add(by=by, text=text, deal=deal)

        def done_task():
            task = services.task_create(by=manager, title=rng.choice(data.TASKS_DONE), deal=deal)
            services.task_complete(task=task, by=manager)

        if rng.random() < 0.5:
            note()
        for position in range(1, target + 1):
            if rng.random() < 0.35:
                done_task()
            if rng.random() < 0.3:
                note()
            services.deal_move(deal=deal, stage=stages[position], by=manager)
        if status == "won":
            if rng.random() < 0.5:
                note()
            services.deal_close(deal=deal, by=manager, status="won")
        elif status == "lost":
            services.deal_close(
                deal=deal, by=manager, status="lost", loss_reason=rng.choice(data.LOSS_REASONS)
            )
        else:
            if rng.random() < 0.85:
                services.task_create(
                    by=manager, deal=deal, title=rng.choice(data.TASKS_OPEN).format(first=first)
                )
            if rng.random() < 0.1:
                services.task_create(
                    by=head, assignee=manager, deal=deal, title=rng.choice(data.HEAD_TASKS)
                )
            if rng.random() < 0.1:
                note(by=head, texts=data.HEAD_NOTES)
        self.deals.append(deal)
        self.status_of[deal.pk] = status

    def _contact_notes(self) -> None:
        for username, contacts in self.contacts_of.items():
            for contact in self.rng.sample(contacts, 8):
                self.contact_notes.append(services.note_add(
                    by=self.users[username], contact=contact,
                    text=self.rng.choice(data.CONTACT_NOTES),
                ))

    # --- Consents ----------------------------------------------------------------------------

    # --- Dates -------------------------------------------------------------------------------

    def office_hours(self, moment):
        """The same day within 9:00-19:00 Moscow time, moved off weekends, never in the future."""
        local = moment.astimezone(self.tz)
        local = local.replace(hour=9 + local.hour % 10)
        if local.weekday() >= 5:
            local -= timedelta(days=local.weekday() - 4)
        return min(local, self.now - timedelta(minutes=5))

    def days_ago(self, days: float):
        return self.now - timedelta(days=days)

    def _backdate(self) -> None:
        """Spread what was just written over the last 90 days, keeping each deal's order."""
        rng = self.rng
        entries_of: dict[int, list[TimelineEntry]] = defaultdict(list)
        for entry in TimelineEntry.objects.filter(deal__in=self.deals).order_by("id"):
            entries_of[entry.deal_id].append(entry)
        notes = {n.pk: n for n in Note.objects.filter(deal__in=self.deals)}
        tasks = {t.pk: t for t in Task.objects.filter(deal__in=self.deals)}
        note_type, task_type = (ContentType.objects.get_for_model(m) for m in (Note, Task))
        first_touch: dict[int, object] = {}
        entries, deals = [], []
        for deal in self.deals:
            closed = self.status_of[deal.pk] != "open"
            # The oldest deals start in the first days of the 90 (office_hours moves a weekend
            # back to Friday), so a quarter's charts show activity from its first week on.
            age = rng.uniform(20, HISTORY_DAYS - 3) if closed else rng.uniform(2, HISTORY_DAYS - 3)
            start = self.days_ago(age)
            if closed:
                end = start + (self.now - start) * rng.uniform(0.4, 0.95)
            else:
                end = self.now - timedelta(hours=rng.uniform(1, min(age * 12, 24 * 14)))
            own = entries_of[deal.pk]
            moments = [start] + [start + (end - start) * rng.random() for _ in own[1:]]
            moments = sorted(self.office_hours(m) for m in moments)
            for entry, moment in zip(own, moments, strict=True):
                entry.occurred_at = moment
                entries.append(entry)
                if entry.source_type_id == note_type.pk:
                    notes[entry.source_id].created_at = moment
                elif entry.source_type_id == task_type.pk:
                    task = tasks[entry.source_id]
                    if entry.kind == "task_done":
                        task.done_at = task.updated_at = moment
                    else:
                        task.created_at = task.updated_at = moment
                if entry.kind == "status_changed":
                    deal.closed_at = moment
            deal.created_at, deal.last_activity_at = moments[0], moments[-1]
            deal.stage_since = max([moments[0]] + [
                moment for entry, moment in zip(own, moments, strict=True)
                if entry.kind == "stage_changed"])
            deal.updated_at = moments[-1]
            if closed:
                deal.expected_close = deal.closed_at.astimezone(self.tz).date()
            elif rng.random() < 0.1:  # a few open deals already missed their date
                deal.expected_close = (self.now - timedelta(days=rng.randint(1, 10))).date()
            else:
                deal.expected_close = (self.now + timedelta(days=rng.randint(7, 75))).date()
            deals.append(deal)
            first_touch[deal.contact_id] = min(first_touch.get(deal.contact_id, start), start)

        for task in tasks.values():
            if task.done:
                task.due_at = task.created_at + (task.done_at - task.created_at) * rng.uniform(
                    0.5, 1.5
                )
            else:
                task.due_at = self._open_task_due(task.created_at)

        contacts, companies = self._backdate_people(first_touch)
        batch = 500
        TimelineEntry.objects.bulk_update(entries, ["occurred_at"], batch_size=batch)
        Note.objects.bulk_update(notes.values(), ["created_at"], batch_size=batch)
        Task.objects.bulk_update(
            tasks.values(), ["created_at", "updated_at", "done_at", "due_at"], batch_size=batch
        )
        Deal.objects.bulk_update(
            deals,
            ["created_at", "updated_at", "last_activity_at", "closed_at", "expected_close",
             "stage_since"],
            batch_size=batch,
        )
        Contact.objects.bulk_update(contacts, ["created_at", "updated_at"], batch_size=batch)
        Company.objects.bulk_update(companies, ["created_at", "updated_at"], batch_size=batch)

        # Notes on contacts alone: some time after the contact appeared.
        note_entries = {
            e.source_id: e for e in TimelineEntry.objects.filter(
                deal=None, source_type=note_type, source_id__in=[n.pk for n in self.contact_notes]
            )
        }
        created = {c.pk: c.created_at for c in contacts}
        for note in self.contact_notes:
            since = created[note.contact_id]
            note.created_at = self.office_hours(since + (self.now - since) * rng.uniform(0, 0.3))
            note_entries[note.pk].occurred_at = note.created_at
        Note.objects.bulk_update(self.contact_notes, ["created_at"], batch_size=batch)
        TimelineEntry.objects.bulk_update(note_entries.values(), ["occurred_at"], batch_size=batch)

    def _open_task_due(self, created):
        rng, now = self.rng, self.now
        roll = rng.random()
        if roll < 0.3:  # overdue
            return max(created + timedelta(hours=2), now - timedelta(days=rng.uniform(0.2, 5)))
        if roll < 0.45:  # later today
            return now + timedelta(hours=rng.uniform(1, 6))
        local = (now + timedelta(days=rng.randint(1, 14))).astimezone(self.tz)
        return local.replace(hour=rng.randint(10, 17), minute=rng.choice([0, 30]), second=0,
                             microsecond=0)

    def _backdate_people(self, first_touch: dict[int, object]):
        rng = self.rng
        oldest = self.days_ago(HISTORY_DAYS)
        contacts = []
        company_start: dict[int, object] = {}
        for contact in (c for group in self.contacts_of.values() for c in group):
            if contact.pk in first_touch:
                moment = first_touch[contact.pk] - timedelta(days=rng.uniform(0.5, 8))
            else:
                moment = self.days_ago(rng.uniform(1, HISTORY_DAYS))
            contact.created_at = contact.updated_at = self.office_hours(max(moment, oldest))
            contacts.append(contact)
            company_start[contact.company_id] = min(
                company_start.get(contact.company_id, contact.created_at), contact.created_at
            )
        for company in self.companies:
            moment = company_start[company.pk] - timedelta(hours=rng.uniform(0, 48))
            company.created_at = company.updated_at = max(moment, oldest)
        return contacts, self.companies
