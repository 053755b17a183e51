"""Who may create an account.

The first account of an empty site is its admin. After that a new person signs up
through the site's join link, /join/<code>/, which the site admin hands out and can
regenerate (the old code stops working at once); or anyone may, when the deployment
sets CHAT_OPEN_SIGNUP.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import BaseUserCreationForm
from django.db import transaction
from django.utils.crypto import constant_time_compare

from .models import JoinLink, Profile

# The site's one join link is this row (a fixed key: two first uses at once cannot make two links).
SITE_LINK = 1


class SignUpClosed(Exception):
    """Sign-up needs an invitation, and the request has none that works (any more)."""


def new_code() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits, 32 characters: not guessable


def join_code() -> str:
    """The site's join code, made on first use."""
    link, _ = JoinLink.objects.get_or_create(pk=SITE_LINK, defaults={"code": new_code()})
    return link.code


def regenerate() -> str:
    """A new join code; the old one stops working with this save."""
    link, _ = JoinLink.objects.update_or_create(pk=SITE_LINK, defaults={"code": new_code()})
    return link.code


def is_join_code(code: str) -> bool:
    current = JoinLink.objects.filter(pk=SITE_LINK).values_list("code", flat=True).first()
    return current is not None and constant_time_compare(code, current)


def sign_up_open() -> bool:
    """Sign-up without a join link: the site's first account, or anyone when CHAT_OPEN_SIGNUP is on."""
    return settings.CHAT_OPEN_SIGNUP or not get_user_model().objects.exists()


@transaction.atomic
def create_account(form: BaseUserCreationForm, code: str | None = None):
    """Saves a valid sign-up form, made through `code` (a join code) or through the open sign-up page.

    The first account of the site becomes its admin (superuser and staff). Sign-ups
    queue on the join link's row, and the gate is checked again in the queue: two
    people signing up at once on an empty site do not both become its admin, and
    a sign-up through a code that was just regenerated is refused.
    """
    JoinLink.objects.select_for_update().get_or_create(pk=SITE_LINK, defaults={"code": new_code()})
    first = not get_user_model().objects.exists()
    if not (first or settings.CHAT_OPEN_SIGNUP or (code is not None and is_join_code(code))):
        raise SignUpClosed
    user = form.save(commit=False)
    user.is_superuser = user.is_staff = first
    user.save()  # and its profile (profiles.give_every_account_a_profile)
    if zone := form.cleaned_data.get("time_zone"):
        Profile.objects.filter(user=user).update(time_zone=zone)
    return user
