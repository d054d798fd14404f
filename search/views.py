"""The search page (`/search/?q=`), which the header's box on every page opens."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from search import services
from search.forms import SearchForm
from security.ratelimit import list_rate_limited


@require_GET
@login_required
@list_rate_limited
def search_page(request):
    form = SearchForm(request.GET or None)
    results = None
    if form.is_bound and form.is_valid() and form.cleaned_data["q"].strip():
        results = services.search(user=request.user, text=form.cleaned_data["q"],
                                  filters=form.filters(), page=form.cleaned_data["page"] or 1)
        services.record_reads(results)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "search/results.html", {
        "form": form, "results": results, "nav": "search", "cap": services.COUNT_CAP,
        "query_without_page": query.urlencode(),
        "kind_links": _kind_links(request, results),
    })


def _kind_links(request, results) -> list[dict]:
    """The tabs over the hits: everything, then each kind with its count."""
    if results is None:
        return []
    current = request.GET.get("kind", "")
    links = []
    for kind, label in [("", None), *results.labels.items()]:
        query = request.GET.copy()
        query.pop("page", None)
        query["kind"] = kind
        count = results.total if not kind else results.counts.get(kind, 0)
        if kind and not count and kind != current:
            continue
        links.append({"kind": kind, "label": label, "count": count,
                      "capped": count >= services.COUNT_CAP, "url": f"?{query.urlencode()}",
                      "current": kind == current})
    return links
