"""Views, API views, serializers and websocket consumers read client data only through the
apps' selectors, where the one visibility rule lives (Zulip's lint, as a test): no
`Deal.objects...`, no `get_object_or_404(Contact, ...)` in any of them. A model "holds client
data" when it is a contact or a company or leads to one through its foreign keys (a deal, a
message, a call...). `Model.objects.none()` (a schema's queryset) reads nothing and passes.
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps

from crm.models import Company, Contact
from tests.test_holdings import models_about_clients
from tests.test_import_graph import APPS

ROOT = Path(__file__).resolve().parent.parent
# Public endpoints that are views without the name.
ALSO = ["consents/capture.py"]


def surface_modules() -> list[Path]:
    found = []
    for app in APPS:
        base = ROOT / app
        found += [base / "views.py", base / "consumers.py", *(base / "views").rglob("*.py"),
                  *(base / "api").rglob("*.py")]
    found += [ROOT / name for name in ALSO]
    return sorted(path for path in found if path.exists())


def client_model_names() -> set[str]:
    local = [m for m in apps.get_models() if m._meta.app_label in APPS]
    return {m.__name__ for m in models_about_clients(local, seeds={Contact, Company})}


def direct_reads(source: str, names: set[str]) -> list[str]:
    """`Model.objects.<anything but none>` and `get_object_or_404(Model, ...)` of `names`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and node.value.attr in ("objects", "_default_manager")
                and isinstance(node.value.value, ast.Name) and node.value.value.id in names
                and node.attr != "none"):
            found.append(f"line {node.lineno}: {node.value.value.id}.{node.value.attr}."
                         f"{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("get_object_or_404", "get_list_or_404") and node.args
                and isinstance(node.args[0], ast.Name) and node.args[0].id in names):
            found.append(f"line {node.lineno}: {node.func.id}({node.args[0].id}, ...)")
    return found


def test_the_lint_reads_every_surface_and_knows_the_client_models():
    modules = {str(p.relative_to(ROOT)) for p in surface_modules()}
    assert {"crm/views/deals.py", "inbox/views/conversations.py", "inbox/api/views.py",
            "crm/consumers.py", "telephony/views/calls.py", "consents/views/public.py",
            "crm/api/sharing.py"} <= modules
    assert {"Contact", "Company", "Deal", "Message", "Conversation", "Call",
            "Recording", "Attachment"} <= client_model_names()


def test_no_surface_reads_client_data_past_the_selectors():
    names = client_model_names()
    problems = [f"{path.relative_to(ROOT)} {problem}" for path in surface_modules()
                for problem in direct_reads(path.read_text(), names)]
    assert not problems, "read these through a selector:\n" + "\n".join(problems)


@pytest.mark.parametrize("source, caught", [
    ("Deal.objects.filter(pk=pk)", True),
    ("def view(request):\n    return Message.objects.get(pk=1)", True),
    ("get_object_or_404(Contact, pk=pk)", True),
    ("Call._default_manager.all()", True),
    ("queryset = Conversation.objects.none()", False),
    ("Stage.objects.all()", False),
    ("selectors.deal_get(user=user, pk=pk)", False),
])
def test_the_lint_catches_a_direct_read(source, caught):
    assert bool(direct_reads(source, client_model_names())) is caught
