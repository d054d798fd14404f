"""The interactive API docs, with Swagger UI served by us rather than from a CDN.

The browser of an on-premises install often cannot reach a CDN, and the UI would stay blank.
drf-spectacular-sidecar ships the files; we serve the few the page loads from this app, so it
works without adding the sidecar to INSTALLED_APPS or running collectstatic.
"""

import mimetypes
from pathlib import Path

from django.http import FileResponse, Http404
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularSwaggerView

try:
    import drf_spectacular_sidecar
except ImportError:  # pragma: no cover - a pinned dependency
    drf_spectacular_sidecar = None

ASSETS = frozenset({
    "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
})


def _assets_dir() -> Path | None:
    if drf_spectacular_sidecar is None:
        return None
    return (
        Path(drf_spectacular_sidecar.__file__).parent
        / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"
    )


@require_safe
@cache_control(public=True, max_age=24 * 3600)
def swagger_asset(request, name: str):
    folder = _assets_dir()
    if folder is None or name not in ASSETS:
        raise Http404
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse((folder / name).open("rb"), content_type=content_type)


class SwaggerView(SpectacularSwaggerView):
    url_name = "api:schema"

    @staticmethod
    def _swagger_ui_resource(filename):
        if _assets_dir() is None:
            return SpectacularSwaggerView._swagger_ui_resource(filename)
        return reverse("api:docs-asset", args=[filename])

    @staticmethod
    def _swagger_ui_favicon():
        if _assets_dir() is None:
            return SpectacularSwaggerView._swagger_ui_favicon()
        return reverse("api:docs-asset", args=["favicon-32x32.png"])
