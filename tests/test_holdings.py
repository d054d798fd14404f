"""Every app that holds client data tells core.holdings how to erase it, how to hand it to
the client and how to pseudonymize it: erasure, retention, the download and the sandbox ask the
registry, so an app that forgot would keep a client's data after their erasure, or copy it
real into a sandbox, without anyone noticing.

An app holds client data when one of its models leads to a contact through its foreign keys
(a message through its conversation, a recording through its call). For erasure and the
download, consents/ reads what stands on its floor or below (crm, security) itself and every
app above it must declare; the sandbox (security/sandbox.py) stands on the first floor and
imports no app, so every app holding client data declares its `pseudonymize`.
"""

import dataclasses

import pytest
from django.apps import apps
from django.db import models

from core import holdings
from crm.models import Contact
from tests.test_import_graph import FLOOR


def models_about_clients(all_models, seeds=frozenset({Contact})) -> set[type]:
    """The seeds (a contact), and every model whose foreign keys lead to one."""
    found = set(seeds)
    while True:
        more = {model for model in all_models if model not in found and any(
            isinstance(f, models.ForeignKey | models.OneToOneField)
            and f.related_model in found for f in model._meta.get_fields()
            if f.concrete)}
        if not more:
            return found
        found |= more


def apps_that_must_declare() -> set[str]:
    local = [m for m in apps.get_models() if m._meta.app_label in FLOOR]
    return {m._meta.app_label for m in models_about_clients(local)
            if FLOOR[m._meta.app_label] > FLOOR["consents"]}


def apps_holding_client_data() -> set[str]:
    local = [m for m in apps.get_models() if m._meta.app_label in FLOOR]
    return {m._meta.app_label for m in models_about_clients(local)}


def unpseudonymized(declared: list[holdings.Holdings], required: set[str]) -> list[str]:
    by_app = {h.app: h for h in declared}
    return [f"{app}: pseudonymize" for app in sorted(required)
            if by_app.get(app) is None or by_app[app].pseudonymize is None]


def undeclared(declared: list[holdings.Holdings], required: set[str]) -> list[str]:
    by_app = {h.app: h for h in declared}
    missing = []
    for app in sorted(required):
        h = by_app.get(app)
        for hook in ("erase", "subject_data"):
            if h is None or getattr(h, hook) is None:
                missing.append(f"{app}: {hook}")
    return missing


def test_the_channel_apps_hold_client_data():
    # The check below would pass vacuously if it found nobody.
    assert apps_that_must_declare() >= {"inbox", "telephony"}


def test_every_app_holding_client_data_declares_its_erasure_and_download():
    assert undeclared(holdings.declared(), apps_that_must_declare()) == []


@pytest.mark.parametrize("hook", ["erase", "subject_data"])
def test_an_app_that_forgets_is_named(hook):
    declared = [dataclasses.replace(h, **{hook: None}) if h.app == "inbox" else h
                for h in holdings.declared()]
    assert undeclared(declared, apps_that_must_declare()) == [f"inbox: {hook}"]


def test_an_app_that_declares_nothing_is_named():
    declared = [h for h in holdings.declared() if h.app != "telephony"]
    assert undeclared(declared, apps_that_must_declare()) == [
        "telephony: erase", "telephony: subject_data"]


def test_every_app_holding_client_data_declares_its_pseudonymization():
    assert apps_holding_client_data() >= {"crm", "consents", "security", "inbox", "telephony"}
    assert unpseudonymized(holdings.declared(), apps_holding_client_data()) == []


def test_an_app_that_forgets_its_pseudonymization_is_named():
    declared = [dataclasses.replace(h, pseudonymize=None) if h.app == "telephony" else h
                for h in holdings.declared()]
    assert unpseudonymized(declared, apps_holding_client_data()) == ["telephony: pseudonymize"]
    declared = [h for h in holdings.declared() if h.app != "crm"]
    assert unpseudonymized(declared, apps_holding_client_data()) == ["crm: pseudonymize"]


def test_the_registry_runs_in_the_order_of_installed_apps():
    order = [config.label for config in apps.get_app_configs()]
    labels = [h.app for h in holdings.declared()]
    assert labels == sorted(labels, key=order.index)
    # Offboarding relies on it: crm's deals move first (and the leaver's shares are revoked
    # after them), then the apps' conversations and extensions.
    handovers = [h for h in holdings.declared() if h.handover]
    assert handovers[0].app == "crm" and list(handovers[0].handover_kinds)[-1] == "shares"


def test_every_retention_kind_is_a_data_type_of_the_rules():
    from consents.models import RetentionRule

    assert set(holdings.retention_kinds()) <= set(RetentionRule.DataType.values)
