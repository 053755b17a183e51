"""Profiles: the name others see (a display name beside the username) and an initials avatar.

Avatars are drawn by CSS: the initials in a circle whose colour is one of AVATAR_HUES
classes picked from the user id (no uploads, no inline styles under the CSP).
"""

from __future__ import annotations

from typing import cast

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Profile

AVATAR_HUES = 12
DISPLAY_NAME_MAX_LENGTH = cast(int, Profile._meta.get_field("display_name").max_length)


def display_name(user) -> str:
    """The name shown on messages, presence, typing and the sidebar (the username until one is chosen)."""
    profile = profile_of(user)
    return (profile.display_name if profile else "") or user.get_username()


def profile_of(user) -> Profile | None:
    """The user's profile (read once, then kept on the user), or None for an account made without one."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return None


def initials(name: str) -> str:
    """ "Ada Lovelace" → "AL"; "はなこ" → "は": two words' first letters, else the first character."""
    words = name.split()
    if len(words) >= 2 and words[0][0].isascii() and words[1][0].isascii():
        return (words[0][0] + words[1][0]).upper()
    return name[:1].upper()


def avatar_hue(user_id: int) -> int:
    return user_id % AVATAR_HUES


@receiver(post_save, sender=get_user_model())
def give_every_account_a_profile(sender, instance, created, raw=False, **kwargs) -> None:
    if created and not raw:
        Profile.objects.get_or_create(user=instance, defaults={"display_name": instance.get_username()[:50]})
