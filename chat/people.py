"""Who is on the site: signing up (by invitation), logging in, and the site admin's people page.

The people page answers 404 to anyone but the site admin, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models.functions import Lower
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from . import invitations, limits, login_throttle
from .forms import SignUpForm
from .people_forms import PersonForm, UnlockForm
from .views import form_status

NO_SUCH_LINK = gettext_lazy("No such join link: it is mistyped, or it was replaced by a new one.")


def _sign_up(request: HttpRequest, code: str | None) -> HttpResponse:
    language = getattr(request, "LANGUAGE_CODE", "")
    form = SignUpForm(request.POST or None, address=limits.client_address(request), language=language)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.create_account(form, code)
        except invitations.SignUpClosed:  # the site changed while the form was open (a link regenerated)
            if code is None:
                return _closed(request)
            raise Http404(NO_SUCH_LINK) from None
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:index")
    context = {"form": form, "action": request.path, "first": not get_user_model().objects.exists()}
    return render(request, "registration/signup.html", context, status=form_status(form))


def _closed(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signup_closed.html", status=403)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Sign-up without a link: the site's first account, or anyone when CHAT_OPEN_SIGNUP is on."""
    if not invitations.sign_up_open():
        return _closed(request)
    return _sign_up(request, None)


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, code: str) -> HttpResponse:
    """Sign-up through the site's join link."""
    if not invitations.is_join_code(code):
        raise Http404(NO_SUCH_LINK)
    return _sign_up(request, code)


class LoginView(auth_views.LoginView):
    """Django's login, saying whether a newcomer can sign up here without a link."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(sign_up_open=invitations.sign_up_open(), **kwargs)


def site_admin_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed out: the login page. Signed in but not the site admin: 404, so the page's existence does not show."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404
        return view(request, *args, **kwargs)

    return guarded


def _people_page(request: HttpRequest, status: int = 200, **context) -> HttpResponse:
    accounts = get_user_model().objects.select_related("profile").order_by(Lower("username"))
    join_url = request.build_absolute_uri(reverse("join", kwargs={"code": invitations.join_code()}))
    context = {"accounts": accounts, "join_url": join_url, "locks": login_throttle.locked_logins(), **context}
    return render(request, "people/people.html", context, status=status)


@site_admin_only
def people(request: HttpRequest) -> HttpResponse:
    return _people_page(request)


@site_admin_only
@require_POST
def regenerate_join_link(request: HttpRequest) -> HttpResponse:
    invitations.regenerate()
    return redirect("people")


@site_admin_only
@require_POST
def person(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate, reactivate, or show a one-time password-reset link (shown on this answer only)."""
    account = get_object_or_404(get_user_model(), pk=pk)
    form = PersonForm(request.POST, person=account, admin=request.user)
    if not form.is_valid():
        return _people_page(request, status=400, refused=form, refused_for=account)
    path = form.save()
    if path is None:
        return redirect("people")
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    return _people_page(request, reset_for=account, reset_url=request.build_absolute_uri(path), reset_hours=hours)


@site_admin_only
@require_POST
def unlock(request: HttpRequest) -> HttpResponse:
    form = UnlockForm(request.POST)
    if not form.is_valid():
        return _people_page(request, status=400, refused=form)
    form.save()
    return redirect("people")
