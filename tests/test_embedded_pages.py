"""`make run`'s embedded mode answers every page it links to without a server error: the demo
seeded into SQLite, then, as a manager, a sales head and the director, one URL of every shape
(`/deals/N/`) that a page links to or hands its scripts (`href`, `data-*` attributes: the
@mention list, the chat's pages...) is fetched, breadth first. The rest of the suite runs
on PostgreSQL, which accepts queries SQLite refuses (an ORDER BY inside a UNION took the
@mention list down with a 500 in the embedded mode only)."""

from tests.embedded import run_embedded

SCRIPT = r"""
import io, json, re
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.db import connection

call_command("migrate", verbosity=0)
call_command("seed_demo", stdout=io.StringIO())
assert connection.vendor == "sqlite"
LINK = re.compile(r'(?:href|data-[\w-]+)="(/[^"#?]*)')
SKIP = ("/logout/", "/static/", "/media/", "/admin/", "/api/schema", "/api/docs")
failures, fetched = [], {}
for username in ("anna", "head_north", "director"):
    client = Client()
    client.force_login(__import__("security.models", fromlist=["User"]).User.objects.get(
        username=username))
    queue, seen = ["/", "/deals/"], set()  # one URL of each shape: /deals/N/mentions/
    while queue and len(seen) < 200:
        url = queue.pop(0)
        shape = re.sub(r"\d+", "N", url)
        if shape in seen or url.startswith(SKIP):
            continue
        seen.add(shape)
        response = client.get(url, follow=False)
        if response.status_code >= 500:
            failures.append(f"{username} {url} {response.status_code}")
        kind = response.get("Content-Type", "")
        if response.status_code == 200 and kind.startswith("text/html"):
            queue += LINK.findall(response.content.decode())
    fetched[username] = sorted(seen)
print(json.dumps({"failures": failures, "fetched": fetched}))
"""


def test_every_linked_page_answers_in_the_embedded_mode(tmp_path):
    report = run_embedded(SCRIPT, tmp_path, timeout=600,
                          env={"DEBUG": "1", "ALLOWED_HOSTS": "testserver"})
    assert report["failures"] == []
    # The walk went everywhere a role goes: deal cards and what their scripts ask for.
    for username, shapes in report["fetched"].items():
        assert len(shapes) >= 30 and "/deals/N/mentions/" in shapes, (username, shapes)
