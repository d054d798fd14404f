from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = _("Search")

    def ready(self):
        from core import holdings

        holdings.declare(holdings.Holdings(app="search", api_urls="search.api.urls"))
