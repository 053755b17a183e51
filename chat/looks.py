"""How a reader sees the chat: their language and their time zone, together a *look*.

A signed-in reader's look is their profile's choice (the language switcher and the
profile page set it); what they have not chosen comes from the browser (the language
cookie Django's set_language leaves, else Accept-Language) and from the site
(settings.TIME_ZONE, from DJANGO_TIME_ZONE). Times are stored in UTC and shown in the
reader's zone and language.

Pages are rendered in the reader's look. Socket frames are rendered once per look,
not per reader: a room's new message is rendered for each look among the people in
the room (one or two in a class: measured in bench/README.md) and every page takes
the copy in its own look (live/changes.py).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.cookies import SimpleCookie

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation import trans_real

# The zone a new account is offered for its browser's language (the sign-up form's initial choice).
USUAL_ZONES = {"ja": "Asia/Tokyo"}


@dataclass(frozen=True, slots=True)
class Look:
    language: str
    zone: str

    @property
    def key(self) -> str:
        """One string for the look (events carry frames keyed by it): language codes and zone names have no spaces."""
        return f"{self.language} {self.zone}"

    @classmethod
    def from_key(cls, key: str) -> Look:
        language, _, zone = key.partition(" ")
        return cls(language, zone)

    def is_real(self) -> bool:
        """One of the site's languages and a zone that exists (a look read from elsewhere may be neither)."""
        return supported_language(self.language) == self.language and self.zone in zone_names()


def default() -> Look:
    return Look(settings.LANGUAGE_CODE, settings.TIME_ZONE)


@cache
def zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def supported_language(code: str | None) -> str | None:
    """One of settings.LANGUAGES for a code such as "ja-JP" (None if none fits)."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def browser_language(accept_language: str, cookie_language: str | None = None) -> str:
    """The language a browser asks for: the set_language cookie, else the first supported Accept-Language."""
    if chosen := supported_language(cookie_language):
        return chosen
    for code, _quality in trans_real.parse_accept_lang_header(accept_language):
        if code == "*":  # where Django's LocaleMiddleware stops too: the page and its socket agree
            break
        if chosen := supported_language(code):
            return chosen
    return settings.LANGUAGE_CODE


def of_profile(profile, browser: str) -> Look:
    """A reader's look: their profile's choices, the browser's language and the site's zone otherwise."""
    language = supported_language(getattr(profile, "language", "")) or browser
    zone = getattr(profile, "time_zone", "")
    return Look(language, zone if zone in zone_names() else settings.TIME_ZONE)


def of_scope(scope: dict, profile) -> Look:
    """The look of a socket's reader, from its handshake (the page's own cookie and Accept-Language)."""
    headers = dict(scope.get("headers", ()))
    cookies = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
    cookie = cookies.get(settings.LANGUAGE_COOKIE_NAME)
    browser = browser_language(headers.get(b"accept-language", b"").decode("latin-1"), cookie.value if cookie else None)
    return of_profile(profile, browser)


@contextmanager
def rendering(look: Look) -> Iterator[None]:
    """Render in `look`: its language and zone, for this thread or task only."""
    with translation.override(look.language), timezone.override(look.zone):
        yield


def render_each(looks: Iterable[Look], render: Callable[[], str]) -> dict[str, str]:
    """`render()` once in each look, keyed by look."""
    rendered = {}
    for look in looks:
        with rendering(look):
            rendered[look.key] = render()
    return rendered


class PerLook:
    """A frame for several pages, rendered the first time a page of each look asks for it."""

    __slots__ = ("render", "rendered")

    def __init__(self, render: Callable[[], str]) -> None:
        self.render = render
        self.rendered: dict[Look, str] = {}

    def __call__(self, look: Look) -> str:
        frame = self.rendered.get(look)
        if frame is None:
            with rendering(look):
                frame = self.rendered[look] = self.render()
        return frame


def active() -> Look:
    """The look this thread or task renders in now."""
    return Look(translation.get_language() or settings.LANGUAGE_CODE, timezone.get_current_timezone_name())


def of_sync_code() -> set[Look]:
    """The looks a view renders a room's frame in: the site's and its reader's."""
    return {default(), active()}


def usual_zone(language: str) -> str:
    """The zone to offer a new account whose browser speaks `language`."""
    return USUAL_ZONES.get(language, settings.TIME_ZONE)


class ReaderLookMiddleware:
    """After LocaleMiddleware and AuthenticationMiddleware: a signed-in reader's own language and zone win.

    One query per request for the profile (the page needs the reader anyway).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        look = reader_look(request)
        translation.activate(look.language)
        request.LANGUAGE_CODE = look.language
        with timezone.override(look.zone):
            return self.get_response(request)


def reader_look(request: HttpRequest) -> Look:
    browser = getattr(request, "LANGUAGE_CODE", None) or settings.LANGUAGE_CODE
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Look(browser, settings.TIME_ZONE)
    from .models import Profile

    profile = Profile.objects.filter(user=user).only("language", "time_zone").first()
    return of_profile(profile, browser)


def zone_choices() -> list[tuple[str, str]]:
    """Every zone, by name, with its offset from UTC now ("Asia/Tokyo (UTC+09:00)")."""
    now = timezone.now()
    choices = []
    for name in sorted(zone_names()):
        offset = now.astimezone(zoneinfo.ZoneInfo(name)).strftime("%z")
        choices.append((name, f"{name.replace('_', ' ')} (UTC{offset[:3]}:{offset[3:]})"))
    return choices
