"""Who is signed in: on a socket when it opens and on every frame, and announced to every process on sign-out."""

from __future__ import annotations

import hashlib
from importlib import import_module

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.http.cookie import parse_cookie
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from .live.sessions import notify_signed_out


def session_user(session_key: str | None):
    """The active user this session signs in, decided as Django's own get_user does; None if there is none."""
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    backend_path = session.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in session or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
    except Exception:  # a tampered or stale session: nobody
        return None
    user = load_backend(backend_path).get_user(user_id)  # None when deactivated
    if user is None:
        return None
    session_hash = session.get(HASH_SESSION_KEY, "")
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not session_hash or not any(constant_time_compare(session_hash, known) for known in hashes):
        return None
    return user


def session_is_signed_in(session_key: str | None, user_id: int) -> bool:
    """True while this session still signs in this (active) user."""
    user = session_user(session_key)
    return user is not None and user.pk == user_id


def session_digest(session_key: str | None) -> str:
    """Names a session in events between processes without putting its key (a secret) on the wire."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def session_key_of(scope) -> str | None:
    cookie = b"; ".join(value for name, value in scope.get("headers", ()) if name == b"cookie")
    return parse_cookie(cookie.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)


class SocketAuthMiddleware:
    """Puts the session key and the signed-in user (or AnonymousUser) into a socket's scope.

    Channels' AuthMiddlewareStack does the same, but wraps `send` to save the
    session, a check paid on every frame a socket is sent (thousands per second
    in a busy room) and three copies of the scope per socket. A chat socket
    never changes its session, so this loads it once and wraps nothing.
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        session_key = session_key_of(scope)
        user = await database_sync_to_async(session_user)(session_key)
        scope = {**scope, "session_key": session_key, "user": user or AnonymousUser()}
        return await self.inner(scope, receive, send)


@receiver(user_logged_out)
def announce_logout(sender, request, user, **kwargs) -> None:
    # Sent before Django flushes the session, so the event names the session itself:
    # a re-check of the database now would still find it signed in.
    if user is not None:
        notify_signed_out(user.pk, session_digest(request.session.session_key))


@receiver(pre_save, sender=get_user_model())
def note_sign_in_changes(sender, instance, update_fields=None, **kwargs) -> None:
    """A new password or a deactivation ends every session of the user (Django checks sessions against the
    password's hash on each request): their sockets are closed once the change is stored."""
    instance._chat_ends_sessions = instance._chat_deactivated = False
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return  # a new account, or a save of other fields (last_login on every sign-in)
    stored = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is not None:
        instance._chat_deactivated = stored["is_active"] and not instance.is_active
        instance._chat_ends_sessions = stored["password"] != instance.password or instance._chat_deactivated


@receiver(post_save, sender=get_user_model())
def announce_sign_in_changes(sender, instance, created, **kwargs) -> None:
    user_id = instance.pk
    if getattr(instance, "_chat_ends_sessions", False):
        transaction.on_commit(lambda: notify_signed_out(user_id))
    if getattr(instance, "_chat_deactivated", False):
        transaction.on_commit(lambda: end_sessions(user_id))


def end_sessions(user_id: int) -> int:
    """Deletes the stored sessions that sign this user in; returns how many.

    Django refuses an inactive user's sessions but keeps them: reactivating the
    account would sign in again every browser it had (a lost phone's too). Sessions
    kept only in a cache or in cookies cannot be listed; there a new password (a
    reset link) ends them.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        return 0
    rows = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    ended = 0
    for key, data in rows.values_list("session_key", "session_data").iterator():
        if store().decode(data).get(SESSION_KEY) == str(user_id):
            store(key).delete()
            ended += 1
    return ended
