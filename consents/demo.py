"""The consents' part of the demo (core.holdings: demo): the purposes with their texts, a
website whose forms record consents, and consents of some clients (granted, some withdrawn
since), written on the ledger by consents.services. A random source of its own, so the rest of
the demo is the same with or without this app."""

import random

from consents import services
from consents.models import ConsentSite, Purpose
from crm.demo import SEED, demo_token, demo_url, site_origins
from crm.management import demo_data as data
from security.models import Team

DEMO_CONSENT_SITE = {"name": "Сайт компании (демо)", "team": "north"}


def demo_consent_site_key() -> str:
    return demo_token("consent-site-public-key")[:32]


def seed(builder) -> dict[str, int]:
    purposes = {}
    for spec in data.PURPOSES:
        fields = {k: v for k, v in spec.items() if k not in ("code", "text")}
        purpose, _created = Purpose.objects.get_or_create(code=spec["code"], defaults=fields)
        if spec["text"] and not purpose.texts.exists():
            services.purpose_text_publish(purpose=purpose, text=spec["text"])
        purposes[spec["code"]] = purpose
    site = DEMO_CONSENT_SITE
    ConsentSite.objects.get_or_create(
        name=site["name"], defaults={
            "public_key": demo_consent_site_key(),
            "team": Team.objects.get(name=site["team"]),
            "allowed_origins": "\n".join(site_origins())})

    rng = random.Random(SEED + 1)
    written = 0
    for username in sorted(builder.contacts_of):
        manager = builder.users[username]
        for contact in builder.contacts_of[username]:
            for code, share in (("newsletter", 0.45), ("service_notifications", 0.6)):
                if rng.random() >= share:
                    continue  # never asked
                granted_at = builder.office_hours(builder.days_ago(rng.uniform(30, 85)))
                if rng.random() < 0.5:
                    source, evidence, by = "manager", {
                        "note": rng.choice(data.CONSENT_NOTES)}, manager
                else:
                    source, by = "website_form", None
                    evidence = {
                        "ip": f"198.51.100.{rng.randint(2, 254)}",
                        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                        "page_url": demo_url().rstrip("/") + rng.choice(data.CONSENT_PAGES),
                        "site": site["name"],
                    }
                services.consent_record(
                    contact=contact, purpose=purposes[code], kind="granted", source=source,
                    evidence=evidence, by=by, at=granted_at)
                written += 1
                if code == "newsletter" and rng.random() < 0.2:
                    services.consent_record(
                        contact=contact, purpose=purposes[code], kind="withdrawn",
                        source="manager", by=manager,
                        evidence={"note": rng.choice(data.WITHDRAWAL_NOTES)},
                        at=builder.office_hours(builder.days_ago(rng.uniform(1, 25))))
                    written += 1
    return {"consent events": written}
