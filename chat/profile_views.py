"""One's own account page: the display name (the password has Django's own pages)."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from .models import Profile
from .people_forms import ProfileForm
from .profiles import DISPLAY_NAME_MAX_LENGTH
from .views import form_status


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    # Accounts made before profiles existed got one in the migration; this covers any made around it.
    name = user.get_username()[:DISPLAY_NAME_MAX_LENGTH]
    own, _created = Profile.objects.get_or_create(user=user, defaults={"display_name": name})
    form = ProfileForm(request.POST or None, instance=own)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your display name is now “%(name)s”.") % {"name": own.display_name})
        return redirect("profile")
    return render(request, "registration/profile.html", {"form": form}, status=form_status(form))
