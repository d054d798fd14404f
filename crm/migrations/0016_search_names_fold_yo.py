"""Names are stored with ё as е in their words-as-written part too (core.search), as every
query is folded: `Ёлк` now finds `Ёлкин` on PostgreSQL as it did in the embedded mode. The
stored forms of companies, contacts and deals are written again (each table once)."""

import core.search
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0015_search_document"),
    ]

    operations = [
        core.search.documents_rebuilt(
            "crm", ("company", "company_search_gin"), ("contact", "contact_search_gin"),
            ("deal", "deal_search_gin")),
    ]
