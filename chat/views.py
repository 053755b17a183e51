from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from . import limits, services
from .forms import RoomForm, SignUpForm
from .models import Room


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:index")
    return render(request, "registration/signup.html", {"form": form})


class ThrottledLoginView(LoginView):
    """Django's login, refusing further tries after too many failures for a username or an address."""

    def post(self, request, *args, **kwargs):
        username, ip = request.POST.get("username", ""), request.META.get("REMOTE_ADDR", "")
        if limits.login_blocked(username, ip):
            form = self.get_form()
            form.add_error(None, "Too many failed attempts. Wait 15 minutes and try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        limits.clear_login_failures(form.get_user().get_username())
        return super().form_valid(form)

    def form_invalid(self, form):
        limits.record_login_failure(self.request.POST.get("username", ""), self.request.META.get("REMOTE_ADDR", ""))
        return super().form_invalid(form)


@login_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = services.create_room(form.cleaned_data["name"], request.user)
        return redirect(room)
    rooms = Room.objects.all()[:200]
    status = 400 if form.errors else 200
    return render(request, "chat/index.html", {"form": form, "rooms": rooms}, status=status)


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    room = get_object_or_404(Room, slug=slug)
    messages, has_older = services.latest_messages(room)
    context = {
        "room": room,
        "messages": messages,
        "has_older": has_older,
        "last_seq": messages[-1].seq if messages else 0,
        "client_id": services.new_client_id(),
    }
    return render(request, "chat/room.html", context)


@login_required
def history(request: HttpRequest, slug: str) -> HttpResponse:
    room = get_object_or_404(Room, slug=slug)
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        return HttpResponse("A numeric 'before' is required.", status=400)
    messages, has_older = services.messages_before(room, before_id=before)
    return render(request, "chat/_history.html", {"room": room, "messages": messages, "has_older": has_older})
