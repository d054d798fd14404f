"""What every app's views share about requests."""

from django.http import Http404


def int_or_404(value) -> int:
    """An id from a query string or a form: not a number is nothing that exists."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None
