from typing import cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from . import limits, memberships, message_display, rooms, services
from .forms import (
    MESSAGE_MAX_LENGTH,
    RATE_LIMITED,
    TOO_FAST,
    MessageForm,
    ReactionForm,
    RoomForm,
    first_error,
)
from .live import events, members
from .models import Membership, Message, Room

# Rooms listed per page of the index (most recently active first).
ROOMS_PER_PAGE = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails  # set by django-htmx's middleware


def fragment_or_room_page(request: HtmxHttpRequest, room: Room, template: str, context: dict, **kwargs) -> HttpResponse:
    """htmx asked (django-htmx's request.htmx): the fragment it swaps in. A plain browser (no JavaScript, a link
    opened in a new tab): the room's page, at the message concerned, after whatever the request did."""
    if request.htmx:
        return render(request, template, context, **kwargs)
    message = context.get("message")
    return redirect(room.get_absolute_url() + (f"#message-{message.pk}" if message else ""))


def fragment_or_page(request: HtmxHttpRequest, fragment: str, page: str, context: dict, **kwargs) -> HttpResponse:
    """htmx asked: the fragment it swaps in. A plain browser: a page of its own that shows the same fragment."""
    return render(request, fragment if request.htmx else page, context, **kwargs)


@login_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST or None, creator=request.user)
    if request.method == "POST" and form.is_valid():
        room = rooms.create_room(form.cleaned_data["name"], request.user, form.cleaned_data["kind"])
        return redirect(room)
    query = request.GET.get("q", "").strip()[:80]
    listed = rooms.visible_rooms(request.user).exclude(kind=Room.Kind.DIRECT)
    listed = listed.filter(name__icontains=query) if query else listed
    page = Paginator(listed, ROOMS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "query": query}
    return render(request, "chat/index.html", context, status=form_status(form))


def form_status(form) -> int:
    """429 for a form refused by a rate limit, 400 for other errors, else 200."""
    if form.has_error(NON_FIELD_ERRORS, code=RATE_LIMITED):
        return 429
    return 400 if form.errors else 200


@login_required
@require_http_methods(["GET", "POST"])
def room(request: HttpRequest, slug: str) -> HttpResponse:
    room = rooms.room_or_404(request.user, slug)
    rename_form = RoomForm(request.POST or None, room=room, initial={"name": room.name}, prefix="rename")
    if request.method == "POST":
        try:
            rooms.check_can_rename(room, request.user)
        except services.NotAllowed as refusal:
            return HttpResponseForbidden(str(refusal))
        if rename_form.is_valid():
            rooms.rename_room(room, request.user, rename_form.cleaned_data["name"])
            events.publish_from_sync(events.room_renamed(room.pk, room.name, room.slug))
            return redirect(room)
    return room_page(request, room, rename_form, status=400 if rename_form.errors else 200)


def room_page(
    request: HttpRequest,
    room: Room,
    rename_form: RoomForm | None = None,
    status: int = 200,
    composers: dict | None = None,
) -> HttpResponse:
    """The room page with its newest messages, as the reader opens the room (read up to here); `composers` for what
    its composers show beside the usual: a refused post's error and text (send_message)."""
    read_before, joined = memberships.open_room(room, request.user)
    if joined:  # an open room joins their sidebar: their other pages list it too
        members.publish(room, rooms.MembershipChange(None, cast(int, request.user.pk), listed=True))
    events.publish_from_sync(events.user_read(cast(int, request.user.pk), room.pk))
    messages, has_older = services.latest_messages(room)
    first_unread = memberships.first_unread(messages, read_before, request.user)
    context = {
        **room_page_context(request, room, rename_form),
        "messages": messages,
        "has_older": has_older,
        "first_unread": first_unread.pk if first_unread else None,
        "unread_after": read_before if first_unread else None,
        **(composers or {}),
    }
    return render(request, "chat/room.html", context, status=status)


def room_page_context(request: HttpRequest, room: Room, rename_form: RoomForm | None = None) -> dict:
    """What a room page shows besides its log (the room page, and a permalink's window in permalink_views.py):
    the sidebar, a composer, the room's members and admin forms, and the change its log shows."""
    sidebar = memberships.sidebar(request.user)
    if rename_form is None:
        rename_form = RoomForm(room=room, initial={"name": room.name}, prefix="rename")
    return {
        "room": room,
        "last_change": room.last_change,
        "client_id": services.new_client_id(),
        "lines_client_id": services.new_client_id(),  # the multi-line composer's own (_composer_lines.html)
        "sidebar": sidebar,
        "total_unread": sum(item.unread for item in sidebar if item.room.pk != room.pk),
        "is_admin": room.is_admin(request.user),
        "rename_form": rename_form,
        **room_members_context(room, request.user),
    }


def room_members_context(room: Room, user) -> dict:
    """What the room page shows of its members: the list, and for a closed room's admins whom they can add."""
    if room.kind == Room.Kind.OPEN:
        return {}
    manage = room.kind == Room.Kind.CLOSED and room.is_admin(user)
    return {
        "members": rooms.members(room),
        "can_manage": manage,
        "addable": rooms.people_to_add(room) if manage else [],
    }


@login_required
def history(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    room = rooms.room_or_404(request.user, slug)
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        return HttpResponse(gettext("A numeric 'before' is required."), status=400)
    messages, has_older = services.messages_before(room, before_id=before)
    context = {"room": room, "messages": messages, "has_older": has_older}
    return fragment_or_room_page(request, room, "chat/_history.html", context)


def _message_or_404(room: Room, pk: int):
    found = message_display.with_display(Message.objects.filter(room=room, pk=pk, kind=Message.Kind.TEXT))
    if not found:
        raise Http404("No such message.")
    return found[0]


@login_required
def message(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """One message as everyone sees it (used to cancel an edit)."""
    room = rooms.room_or_404(request.user, slug)
    return fragment_or_room_page(request, room, "chat/_message.html", {"message": _message_or_404(room, pk)})


@login_required
@require_POST
def send_message(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The composers without JavaScript (or before htmx has loaded): with it, the ws extension sends the same form
    over the socket (consumers.on_send) and cancels this post. Stored and published as the socket does, then back
    to the room at the message: posted, so its text is never in an address, a history or an access log. A refusal
    shows the room page with the error, and the text back in the composer it came from."""
    room = rooms.room_or_404(request.user, slug)
    form = MessageForm(request.POST, sender=request.user)
    if not form.is_valid():
        draft = request.POST.get("message", "")[: 2 * MESSAGE_MAX_LENGTH]
        lines = request.POST.get("composer") == "lines"  # the multi-line composer's hidden field
        composers = {"lines_open": True, "lines_draft": draft} if lines else {"draft": draft}
        composers["composer_error"] = first_error(form)
        return room_page(request, room, status=form_status(form), composers=composers)
    data = form.cleaned_data
    result = services.post_message(room, request.user, data["message"], data["client_id"])
    if result.created:  # a form posted twice (a reload) stores and publishes its message once
        events.publish_new_message(result.message)
    return redirect(f"{room.get_absolute_url()}#message-{result.message.pk}")


@login_required
@require_POST
def react(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """A reaction button without JavaScript (with it, the button sends over the socket: consumers.on_react).
    Toggled and published as the socket does; htmx would get the message, a plain browser the room at it."""
    room = rooms.room_or_404(request.user, slug)
    form = ReactionForm(request.POST)
    if not form.is_valid():
        return HttpResponse(first_error(form), status=400)
    if not limits.allow_post(cast(int, request.user.pk)):
        return HttpResponse(str(TOO_FAST), status=429)
    message_id, emoji = form.cleaned_data["reaction"]
    try:
        message = services.toggle_reaction(services.get_message(room, message_id), request.user, emoji)
    except services.NotAllowed as refusal:
        return HttpResponseForbidden(str(refusal))
    events.publish_message_changed(message)
    return fragment_or_room_page(request, room, "chat/_message.html", {"message": message})


@login_required
@require_http_methods(["GET", "POST"])
def edit_message(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """The edit form: htmx swaps it in place of the message; a plain browser (no JavaScript, or the Edit link
    opened in a tab of its own) gets a page with it. Saved: the message to htmx, the room at it to a browser."""
    room = rooms.room_or_404(request.user, slug)
    message = _message_or_404(room, pk)
    try:
        services.check_can_edit(message, request.user)
    except services.NotAllowed as refusal:  # a right refused: 403 on every path
        context = {"room": room, "message": message, "error": str(refusal)}
        return fragment_or_page(request, "chat/_message_edit.html", "chat/edit.html", context, status=403)
    form = MessageForm(request.POST or None, initial={"message": message.body})
    if request.method == "POST" and form.is_valid():
        message = services.edit_message(message, request.user, form.cleaned_data["message"])
        events.publish_message_changed(message)
        return fragment_or_room_page(request, room, "chat/_message.html", {"message": message})
    error = first_error(form) if form.errors else ""
    context = {"room": room, "message": message, "error": error}
    return fragment_or_page(request, "chat/_message_edit.html", "chat/edit.html", context, status=400 if error else 200)


@login_required
@require_POST
def delete_message(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    room = rooms.room_or_404(request.user, slug)
    try:
        message = services.delete_message(_message_or_404(room, pk), request.user)
    except services.NotAllowed as refusal:
        return HttpResponseForbidden(str(refusal))
    events.publish_message_changed(message)
    return fragment_or_room_page(request, room, "chat/_message.html", {"message": message})


@login_required
def user_css(request: HttpRequest) -> HttpResponse:
    """Per-reader styling of messages rendered once for everyone: own, mentioning me, my reactions."""
    admin_rooms = Membership.objects.filter(user=cast(User, request.user), role=Membership.Role.ADMIN).values_list(
        "room_id", flat=True
    )
    response = render(
        request,
        "chat/user.css",
        {
            "user_id": request.user.pk,
            "admin_rooms": list(admin_rooms),
            "site_admin": request.user.is_superuser,
            "stale_after": f"{2 * settings.CHAT_HEARTBEAT_SECONDS:g}",
        },
        content_type="text/css; charset=utf-8",
    )
    response["Cache-Control"] = "private, no-cache"
    return response
