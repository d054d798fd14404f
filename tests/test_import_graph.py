"""The house's floors, held by a test: every app imports downward only.

    core       the ground floor: imports no app of ours
    security   accounts, roles, teams, the access log and alerts, masking, exports' control
    crm        companies, contacts, deals, the timeline
    consents   purposes, the ledger, subject rights
    inbox, telephony   the channel apps: never each other
    reports    the sales head's view, reading every app's records
    search     one search over every app's declared sources (core.holdings), nothing more
    config     the wiring on top (settings read only core; urls, routing and Celery see all)

Every import counts, those inside functions included (a lazy import is still a dependency).
Providers (`<app>/providers/`) only speak to the outside world: they import core and their own
package, no domain code. What a lower app needs of a higher one comes through core.holdings.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "config", "security", "crm", "consents", "inbox", "telephony", "reports",
        "search")
FLOOR = {"core": 0, "security": 1, "crm": 2, "consents": 3, "inbox": 4, "telephony": 4,
         "reports": 5, "search": 5, "config": 6}
# config's settings are read by every process before any app: they may use the ground floor
# only. The rest of config (urls, routing, the Celery app) wires the apps together.
CONFIG_LOW = {"config.settings", "config.env"}

@dataclass(frozen=True)
class Edge:
    source: str  # the importing module
    target: str  # the imported module, as written
    line: int

    @property
    def source_app(self) -> str:
        return self.source.split(".")[0]

    @property
    def target_app(self) -> str:
        return self.target.split(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[Edge]:
    """Every import of one of our apps in `source`, at any depth (functions included)."""
    package = module if is_package else module.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from crm import selectors` imports crm.selectors: name the submodule where the
            # name is one, else the module itself.
            targets = [f"{prefix}.{alias.name}" if _is_module(f"{prefix}.{alias.name}")
                       else prefix for alias in node.names]
        else:
            continue
        edges += [Edge(module, target, node.lineno) for target in targets
                  if target.split(".")[0] in APPS]
    return edges


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def forbidden(edge: Edge) -> str | None:
    """Why this import breaks the floors, or None."""
    source, target = edge.source_app, edge.target_app
    if source == target:
        if "providers" in edge.source.split(".") and "providers" not in edge.target.split("."):
            return "a provider imports its app's domain code"
        return None
    if "providers" in edge.source.split(".") and target != "core":
        return "a provider imports a domain app"
    if source == "config":
        if edge.source in CONFIG_LOW and target != "core":
            return "settings import an app"
        return None
    if target == "config" and edge.target not in CONFIG_LOW:
        return "an app imports the wiring (config) above it"
    if target == "config":
        return None
    if FLOOR[target] >= FLOOR[source]:
        return f"{source} (floor {FLOOR[source]}) imports {target} (floor {FLOOR[target]})"
    return None


def all_edges() -> list[Edge]:
    edges = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            edges += imports_of(module_name(path), path.read_text(),
                                is_package=path.name == "__init__.py")
    return edges


def violations(edges) -> dict[tuple[str, str], str]:
    return {(e.source, e.target): f"{e.source}:{e.line} imports {e.target}: {why}"
            for e in edges if (why := forbidden(e))}


def test_every_app_imports_downward_only():
    found = violations(all_edges())
    assert not found, "imports against the floors:\n" + "\n".join(sorted(found.values()))


@pytest.mark.parametrize("module, source, reason", [
    ("crm.services", "def f():\n    from inbox.models import Message\n", "crm (floor 2)"),
    ("crm.views", "import telephony.selectors\n", "crm (floor 2)"),
    ("core.events", "from security import roles\n", "core (floor 0)"),
    ("inbox.services", "from telephony import selectors\n", "inbox (floor 4)"),
    ("inbox.providers.telegram", "from inbox.models import Channel\n", "provider"),
    ("telephony.providers.mango", "from crm import selectors\n", "provider"),
    ("security.roles", "from config.urls import urlpatterns\n", "wiring"),
    ("config.settings", "from security.crypto import x\n", "settings import"),
    ("inbox.services", "from . import models\nfrom ..telephony import selectors\n",
     "inbox (floor 4)"),
])
def test_the_check_catches_a_forbidden_import(module, source, reason):
    found = violations(imports_of(module, source))
    assert any(reason in why for why in found.values()), found


def test_downward_imports_pass():
    source = ("from core import events\nfrom security import roles\nfrom crm import selectors\n"
              "from consents import selectors as consent_selectors\nfrom config.env import x\n")
    assert violations(imports_of("inbox.services", source)) == {}
