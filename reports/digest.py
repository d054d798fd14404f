"""The weekly digest: on Monday at 9:00 in each team's time zone its head gets last week's
figures by e-mail, person by person, and the three longest waits for a first answer. Figures
only: no client's name, number or words, so the mail may sit in any mailbox."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from inbox.models import Message
from inbox.rollups import hours_of
from reports import figures
from reports.models import DigestSent
from reports.periods import Period
from security.models import Team, User

SEND_WEEKDAY, SEND_HOUR = 0, 9  # Monday, 9:00
WORST_WAITS = 3


def _zone(team: Team) -> ZoneInfo:
    try:
        return ZoneInfo(team.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def last_week(today: date) -> tuple[date, date]:
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


@dataclass
class Wait:
    person: str
    channel: str
    minutes: int
    answered_at: datetime


def worst_waits(people_ids, start: datetime, end: datetime, limit: int = WORST_WAITS):
    """The longest waits for a first answer that ended in [start, end), in working minutes of
    each channel: whose, in which channel, how long. Nothing about the client."""
    waits = []
    names = {user.pk: user.get_full_name() or user.username
             for user in User.objects.filter(pk__in=list(people_ids))}
    replies = (Message.objects.filter(owner_id__in=list(people_ids), sent_at__gte=start,
                                      sent_at__lt=end, answered_wait_since__isnull=False)
               .select_related("channel")
               .only("owner_id", "sent_at", "answered_wait_since", "channel"))
    hours = {}
    for reply in replies.iterator(chunk_size=2000):
        if reply.channel_id not in hours:
            hours[reply.channel_id] = hours_of(reply.channel)
        minutes = hours[reply.channel_id].working_minutes(reply.answered_wait_since,
                                                          reply.sent_at)
        waits.append(Wait(names.get(reply.owner_id, ""), reply.channel.name, minutes,
                          reply.sent_at))
    return sorted(waits, key=lambda wait: -wait.minutes)[:limit]


def build(team: Team, week: Period) -> tuple[str, str, str]:
    """The digest's subject, text and HTML."""
    people = figures.people(team.head).filter(team=team)
    report = figures.activity(people_qs=people, period=week)
    context = {
        "team": team, "week": week, "report": report,
        "waits": worst_waits(people.values_list("pk", flat=True), week.start, week.end),
    }
    subject = _("Last week of %(team)s: %(since)s – %(until)s") % {
        "team": team, "since": week.since.strftime("%d.%m"),
        "until": week.until.strftime("%d.%m.%Y")}
    return (subject, render_to_string("reports/digest.txt", context),
            render_to_string("reports/digest.html", context))


def due(now: datetime | None = None) -> list[tuple[Team, date]]:
    """The teams whose head is owed this week's digest now: Monday from 9:00 in the team's
    time zone, not sent yet, a head with an address."""
    now = now or timezone.now()
    found = []
    for team in Team.objects.select_related("head").filter(head__isnull=False,
                                                            head__is_active=True):
        local = now.astimezone(_zone(team))
        if local.weekday() != SEND_WEEKDAY or local.time() < time(SEND_HOUR):
            continue
        if not team.head.email or DigestSent.objects.filter(team=team,
                                                            week=local.date()).exists():
            continue
        found.append((team, local.date()))
    return found


def send_due(now: datetime | None = None) -> int:
    """Send every digest due now (the periodic job); returns how many went."""
    sent = 0
    for team, monday in due(now):
        since, until = last_week(monday)
        with translation.override(settings.LANGUAGE_CODE), transaction.atomic():
            try:
                with transaction.atomic():
                    DigestSent.objects.create(team=team, week=monday)
            except IntegrityError:
                continue  # another worker took it
            subject, text, html = build(team, Period(since, until))
            mail = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL,
                                          [team.head.email])
            mail.attach_alternative(html, "text/html")
            mail.send()
        sent += 1
    return sent
