from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """The sales head's view: the team page, its drill-downs, the wallboard and the reports
    API. It reads what the other apps record and writes nothing of its own but the rollups'
    rebuild: the top floor, under the wiring."""

    name = "reports"
    verbose_name = _("Reports")

    def ready(self):
        from core import holdings
        from reports import demo, exports

        holdings.declare(holdings.Holdings(app="reports", api_urls="reports.api.urls",
                                           demo=demo.seed, exports=exports.EXPORTS))
