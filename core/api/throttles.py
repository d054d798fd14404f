"""No scraping: per-user limits on the endpoints that return many rows, and per-address
limits on token requests (password guessing). Counters live in the cache: Redis in
production, so every worker shares them."""

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

# Actions of our viewsets that return rows in bulk (lists, searches, nested feeds).
LIST_ACTIONS = {"list", "timeline"}


class ListThrottle(UserRateThrottle):
    scope = "list"

    def limits(self, view) -> bool:
        """Does this throttle count the view's action? The schema asks too (429 declared).
        A view that is no viewset but returns rows in bulk (a search, a report) says so with
        `bulk_rows = True` (naming its GET "list" would make the schema call it an array)."""
        return getattr(view, "bulk_rows", False) or getattr(view, "action", None) in LIST_ACTIONS

    def allow_request(self, request, view):
        if not self.limits(view):
            return True
        return super().allow_request(request, view)


class TokenThrottle(AnonRateThrottle):
    """By client address, whoever the request claims to be."""

    scope = "token"
