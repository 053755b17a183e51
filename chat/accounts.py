"""Who is signed in: checked for sockets on every frame, and announced to every process on sign-out."""

from __future__ import annotations

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from .fanout import notify_signed_out


def session_is_signed_in(session_key: str | None, user_id: int) -> bool:
    """True while this session still signs in this (active) user, as Django's own get_user decides."""
    from django.conf import settings

    if not session_key:
        return False
    session = import_string(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if str(session.get(SESSION_KEY)) != str(user_id) or BACKEND_SESSION_KEY not in session:
        return False
    if session[BACKEND_SESSION_KEY] not in settings.AUTHENTICATION_BACKENDS:
        return False
    user = load_backend(session[BACKEND_SESSION_KEY]).get_user(user_id)  # None when deactivated
    if user is None:
        return False
    return constant_time_compare(session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())


@receiver(user_logged_out)
def announce_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        notify_signed_out(user.pk)


@receiver(post_save, sender=get_user_model())
def announce_deactivation(sender, instance, created, **kwargs) -> None:
    if not created and not instance.is_active:
        notify_signed_out(instance.pk)
