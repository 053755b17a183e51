"""The forms around a room's members: a closed room's admins add, remove and promote members; anyone leaves an
open or closed room; a direct conversation is started (or found again) by picking people. The rules are in
rooms.py; what pages see of a change is published by live/members.py."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import rooms, services
from .forms import DirectRoomForm, MemberForm
from .live import members
from .views import form_status


@login_required
@require_POST
def room_members(request: HttpRequest, slug: str) -> HttpResponse:
    """A room admin adds, removes or promotes a member of a closed room."""
    room = rooms.room_or_404(request.user, slug)
    form = MemberForm(request.POST)
    if not form.is_valid():
        return HttpResponse(next(str(e[0]) for e in form.errors.values()), status=400)
    person, action = form.cleaned_data["user"], form.cleaned_data["action"]
    try:
        if action == "make_admin":
            rooms.make_admin(room, request.user, person)
        else:
            change = (rooms.add_member if action == "add" else rooms.remove_member)(room, request.user, person)
            members.publish(room, change)
    except services.NotAllowed as refusal:
        return HttpResponseForbidden(str(refusal))
    return redirect(room)


@login_required
@require_POST
def leave_room(request: HttpRequest, slug: str) -> HttpResponse:
    room = rooms.room_or_404(request.user, slug)
    try:
        members.publish(room, rooms.leave(room, request.user))
    except services.NotAllowed as refusal:
        return HttpResponseForbidden(str(refusal))
    return redirect("chat:index")


@login_required
@require_http_methods(["GET", "POST"])
def direct(request: HttpRequest) -> HttpResponse:
    """Start a direct conversation by picking people, or find the one with them again."""
    form = DirectRoomForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        room = rooms.direct_room(request.user, form.cleaned_data["people"])
        return redirect(room)
    return render(request, "chat/direct.html", {"form": form}, status=form_status(form))
