"""Permalinks (chat/permalinks.py): the link, the room page around an older message, and "load newer"."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.vary import vary_on_headers

from . import permalinks, rooms, services
from .models import Message
from .views import HtmxHttpRequest, room_page_context


@login_required
def permalink(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """To the room page, or to the window around the message when it is older: at `#message-<id>` either way, which
    CSS `:target` marks and the browser scrolls to."""
    room = rooms.room_or_404(request.user, slug)
    message = get_object_or_404(Message, room=room, pk=pk)
    if permalinks.on_room_page(room, message):
        page = room.get_absolute_url()
    else:
        page = reverse("chat:around", args=[room.slug, message.pk])
    return redirect(f"{page}#message-{message.pk}")


@login_required
def around(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """The room page with the log around an older message. Reading history marks nothing read: the page records
    what it showed once it is live, as any page does when it closes."""
    room = rooms.room_or_404(request.user, slug)
    window = permalinks.window_around(room, get_object_or_404(Message, room=room, pk=pk))
    context = {
        **room_page_context(request, room),
        "messages": window.messages,
        "has_older": window.has_older,
        "has_newer": window.has_newer,
        "last_change": window.change,
    }
    return render(request, "chat/room.html", context)


@login_required
@vary_on_headers("HX-Request")
def newer(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The next page of the log below a window (`?after=<message id>&change=<the window's change>`); the last one
    also brings the composer and the catch-up form that makes the page live. A plain browser (no JavaScript: the
    control is a link) gets the window around the last message it had."""
    room = rooms.room_or_404(request.user, slug)
    try:
        after = int(request.GET.get("after", ""))
        change = min(int(request.GET.get("change", room.last_change)), room.last_change)
    except ValueError:
        return HttpResponse(_("A numeric 'after' (and 'change') is required."), status=400)
    if not request.htmx:
        return redirect("chat:permalink", slug, after)
    messages, has_newer = permalinks.messages_after(room, after, change)
    context = {
        "room": room,
        "messages": messages,
        "has_newer": has_newer,
        "last_change": change,
        "client_id": services.new_client_id(),
    }
    return render(request, "chat/_newer.html", context)
