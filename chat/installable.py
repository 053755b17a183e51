"""Installing the chat as an app: the web app manifest, and /favicon.ico.

Both are public: a browser fetches the manifest without cookies. The icons are static files drawn by
tools/make_icons.py; the CSP's default-src 'self' covers the manifest (there is no manifest-src).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.utils.translation import gettext, pgettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

# static/css/chat.css's light theme: pages (their header included) are --bg, so an installed app's title bar
# and splash screen are the page's colour. templates/base.html's theme-color meta says the same, and the dark one.
THEME_COLOR = "#ffffff"
BACKGROUND_COLOR = "#ffffff"

# A day: browsers check the manifest for updates anyway, and icons change with their file names.
CACHE_SECONDS = 24 * 3600


def manifest_data() -> dict[str, Any]:
    def png(name: str, size: int, purpose: str = "any") -> dict[str, str]:
        return {"src": static(f"icons/{name}"), "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}

    return {
        "id": "/",
        "name": pgettext("site name", "Chat"),
        "short_name": pgettext("site name", "Chat"),
        "description": gettext("Group chat in real time."),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [
            png("icon-192.png", 192),
            png("icon-512.png", 512),
            png("icon-maskable-512.png", 512, "maskable"),
        ],
    }


@require_safe
@cache_control(public=True, max_age=CACHE_SECONDS)
def manifest(request: HttpRequest) -> JsonResponse:
    return JsonResponse(manifest_data(), content_type="application/manifest+json")


@require_safe
@cache_control(public=True, max_age=CACHE_SECONDS)
def favicon(request: HttpRequest) -> HttpResponse:
    """static/favicon.ico at the address browsers and tools try first: answered here, not redirected.

    Its 2.5 kB are sent whole: a FileResponse would be a synchronous iterator, which Django's ASGI handler
    consumes with a warning."""
    path = finders.find("favicon.ico")
    if not isinstance(path, str):
        raise Http404("No favicon.")
    return HttpResponse(Path(path).read_bytes(), content_type="image/x-icon")
