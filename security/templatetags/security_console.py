from django import template

from security.audit.alerts import rule_title as _rule_title

register = template.Library()


@register.filter
def rule_title(code: str) -> str:
    """The rule's title in the current language (an unknown code as it is)."""
    return _rule_title(code)


@register.filter
def path_only(path: str) -> str:
    """A logged path without its query string (what a search box sent: a client's name)."""
    from security.selectors import path_without_query

    return path_without_query(path or "")
