"""Choosing one's language: Django's set_language, remembered on the reader's profile (chat/looks.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from .looks import supported_language
from .models import Profile


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switcher's form: the cookie for this browser (Django's view), and the profile for every
    browser and socket of a signed-in reader."""
    response = django_set_language(request)
    language = supported_language(request.POST.get("language"))
    if language and request.user.is_authenticated:
        Profile.objects.filter(user=request.user).update(language=language)
    return response
