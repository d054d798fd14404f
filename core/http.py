"""What every app's views share about requests."""

from django.http import Http404

# The widest id column we have (PostgreSQL bigint). A number past it names nothing, and int()
# of a string of more than 4,300 digits raises instead of answering.
MAX_ID = 2**63 - 1


def int_or_none(value) -> int | None:
    """An id from a query string or a form, or None: ASCII digits only (not "-1", "1e3",
    full-width "１２" or "²"), within bigint."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= MAX_ID else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    value = value.lstrip("0") or "0"
    if len(value) > 19:
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def int_or_404(value) -> int:
    """An id from a query string or a form: not an id is nothing that exists."""
    number = int_or_none(value)
    if number is None:
        raise Http404
    return number


def query_text(params, name: str, length: int = 100) -> str:
    """A search box's text: at most `length` characters, without NUL (which PostgreSQL refuses
    in any text, a 500)."""
    return params.get(name, "").replace("\x00", "").strip()[:length]


def wants_folded_form(request) -> bool:
    """A page's GET asking for its form alone (`?part=form`): a card folds that form and
    fetches it when unfolded (static/js/live.js, `details[data-fold-src]`), so the card's
    every view does not render a form rarely opened."""
    return request.method == "GET" and request.GET.get("part") == "form"
