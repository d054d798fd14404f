"""How the team page writes its figures: waits in working minutes, shares, talk time,
amounts per currency."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from reports.figures import OVER

register = template.Library()


@register.filter
def wait(minutes):
    """A first-response percentile: "≤ 5 min", "≤ 2 h", "> 24 h", or a dash."""
    if minutes is None:
        return "—"
    if minutes >= OVER:
        return _("> %(hours)s h") % {"hours": (OVER - 1) // 60}
    if minutes >= 120 and minutes % 60 == 0:
        return _("≤ %(hours)s h") % {"hours": minutes // 60}
    return _("≤ %(minutes)s min") % {"minutes": minutes}


@register.filter
def share(value):
    if value is None:
        return "—"
    return f"{round(value * 100)} %"


@register.filter
def talk(seconds):
    """Talk time: "1 h 05 min", "12 min", "0 min"."""
    minutes = (seconds or 0) // 60
    if minutes >= 60:
        return _("%(hours)s h %(minutes)02d min") % {"hours": minutes // 60,
                                                    "minutes": minutes % 60}
    return ngettext("%(minutes)s min", "%(minutes)s min", minutes) % {"minutes": minutes}


_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "CNY": "¥"}


@register.filter
def amounts(by_currency):
    """{"RUB": Decimal("1200000")} -> "1 200 000 ₽" (several currencies side by side)."""
    if not by_currency:
        return ""
    return " + ".join(f"{floatformat(amount, '-2g')}\u00a0{_SIGNS.get(currency, currency)}"
                      for currency, amount in sorted(by_currency.items()))


@register.filter
def model_label(obj) -> str:
    return obj._meta.label_lower


@register.filter
def response_minutes(counts) -> str:
    """A response fact's bucket, as the team page writes a wait."""
    from reports.figures import BUCKETS

    for name in BUCKETS:
        if counts.get(name):
            return wait(OVER if name == "response_over" else int(name.rsplit("_", 1)[1]))
    return "—"


@register.filter
def stay(days):
    """A median stay in a stage: "≤ 7 d", "> 90 d", or a dash."""
    from reports.funnel import STAY_OVER

    if days is None:
        return "—"
    if days >= STAY_OVER:
        return _("> %(days)s d") % {"days": STAY_OVER - 1}
    return _("≤ %(days)s d") % {"days": days}
