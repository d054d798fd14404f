from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class CappedPagination(PageNumberPagination):
    """25 rows by default; `?page_size=` up to 100, whatever the client asks (no bulk pulls)."""

    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
