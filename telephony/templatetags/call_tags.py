"""How a call reads in the deal card: its client's number as the user's role may see it,
its talk time."""

from django import template

from security import masking

register = template.Library()


@register.simple_tag(takes_context=True)
def call_client_number(context, call) -> str:
    """The number per the field policy (a manager: `+7 *** ***-45-67`); "" when hidden."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if not call.client_number or user is None:
        return ""
    return masking.present_value(user=user, contact=call.contact, kind=masking.PHONE,
                                 value=call.client_number)


@register.filter
def talk_time(seconds) -> str:
    """125 -> "2:05"; an hour or more -> "1:02:05"."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
