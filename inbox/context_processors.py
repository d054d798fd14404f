from django.utils.functional import SimpleLazyObject

from inbox import selectors


def unread(request):
    """The nav's unread badge; the query runs only when a page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inbox_unread": SimpleLazyObject(
        lambda: selectors.unread_conversation_count(user=user))}
