"""Failed logins, counted by django-axes on every login form (the site's, the admin's).

Failures count per (address, username) and per address, each against a limit of its
own, for AXES_COOLOFF_TIME: someone elsewhere cannot lock a person out, and
one address cannot guess through many names. Counts live in the database, so they
hold across processes and do not depend on Redis. The address comes from
limits.client_address (trusted proxies only). The site admin sees the locks in force
on the people page and can lift one (locked_logins, unlock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy

LOCKED_OUT = gettext_lazy("Too many failed attempts. Wait 15 minutes and try again.")


def username_key(request: HttpRequest, credentials: dict | None) -> str:
    """`DAVE` and `dave` are one name to count (sign-in itself is case-sensitive)."""
    source = credentials or request.POST
    return (source.get("username") or "").casefold()


class LoginFailures(AxesDatabaseHandler):
    """Axes' database handler, with a limit per lockout parameter.

    axes compares its largest count against one limit (AXES_FAILURE_LIMIT, the
    per-(address, username) limit). The per-address count is scaled onto it, so that
    it locks at CHAT_LOGIN_FAILURES_PER_ADDRESS: a class behind one address can
    mistype now and then without locking everyone out.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        # One query set per entry of AXES_LOCKOUT_PARAMETERS, in its order.
        per_name, per_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        limit, address_limit = settings.AXES_FAILURE_LIMIT, settings.CHAT_LOGIN_FAILURES_PER_ADDRESS
        return max(per_name, per_address * limit // address_limit)


class LockedOutForm(AuthenticationForm):
    """The login form as a locked-out attempt sees it: refused without trying the password."""

    def clean(self):
        raise forms.ValidationError(LOCKED_OUT, code="locked_out")


def locked_out(request: HttpRequest, credentials: dict | None = None, *args, **kwargs) -> HttpResponse:
    """The login page again, saying why (axes' response to a locked-out attempt, on any login form)."""
    form = LockedOutForm(request, data=request.POST)
    return render(request, "registration/login.html", {"form": form, "next": request.POST.get("next", "")}, status=429)


@dataclass(frozen=True)
class Lock:
    """A login refused now: one name from one address, or (username None) every name from the address."""

    username: str | None
    address: str
    failures: int
    last_failure: datetime

    @property
    def until(self) -> datetime:
        return self.last_failure + _cool_off()


def _cool_off() -> timedelta:
    return cast(timedelta, get_cool_off())  # never None: AXES_COOLOFF_TIME is set


def locked_logins() -> list[Lock]:
    """The locks in force, counted as LoginFailures counts them (failures within the cool-off time)."""
    recent = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - _cool_off()).exclude(ip_address=None)
    counts = {"failures": Sum("failures_since_start"), "last_failure": Max("attempt_time")}
    per_name = (
        recent.values("username", "ip_address")
        .annotate(**counts)
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .order_by("-last_failure")
    )
    per_address = (
        recent.values("ip_address")
        .annotate(**counts)
        .filter(failures__gte=settings.CHAT_LOGIN_FAILURES_PER_ADDRESS)
        .order_by("-last_failure")
    )
    return [
        Lock(row.get("username"), row["ip_address"], row["failures"], row["last_failure"])
        for row in [*per_address, *per_name]
    ]


def unlock(address: str, username: str | None = None) -> int:
    """Forgets the failures that lock `username` out at `address` (every name's, when None); axes' own reset."""
    if not address:  # axes' reset with neither filter would forget every failure of the site
        raise ValueError("an address is required")
    return reset(ip=address, username=username)
