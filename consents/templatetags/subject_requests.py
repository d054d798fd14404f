from django import template

from consents import selectors
from consents.models import SubjectRequest

register = template.Library()


@register.filter
def uses_subject_requests(user) -> bool:
    """The requests page and the contact card's form are for these roles only."""
    return selectors.can_use_subject_requests(user)


@register.simple_tag
def subject_request_kinds():
    return SubjectRequest.Kind.choices
