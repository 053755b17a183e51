"""The search page, and its results alone for the search boxes' htmx requests (chat/search.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from . import rooms, search
from .views import HtmxHttpRequest


@login_required
@vary_on_headers("HX-Request")
def search_page(request: HtmxHttpRequest) -> HttpResponse:
    """`/search/?q=...&room=<slug>`: a full page for a plain GET (JavaScript off, a shared link, a reload), the
    results partial for a search box's htmx request. A room the user may not see is 404."""
    query = request.GET.get("q", "").strip()[: search.MAX_QUERY_LENGTH]
    slug = request.GET.get("room", "")
    room = rooms.room_or_404(request.user, slug) if slug else None
    context = {
        "query": query,
        "room": room,
        "hits": search.search(request.user, query, room=room),
        "recent_only": search.recent_only(query, room),
        "limit": search.RESULTS,
    }
    # htmx restoring the page from history (its cache is off) needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "chat/_search_results.html", context)
    return render(request, "chat/search.html", context)
