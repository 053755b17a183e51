"""Who is signed in: on a socket when it opens and on every frame, and announced to every process on sign-out."""

from __future__ import annotations

import functools
import hashlib
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.signals import user_logged_out
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.http.cookie import parse_cookie
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from . import rows
from .live.sessions import notify_signed_out
from .models import Profile


def session_user(session_key: str | None):
    """The active user this session signs in, decided as Django's own get_user does; None if there is none."""
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    backend_path = session.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in session or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user_id = _user_id(session)
    if user_id is None:
        return None
    user = load_backend(backend_path).get_user(user_id)  # None when deactivated
    if user is None:
        return None
    return user if _hash_matches(session, user) else None


def _user_id(session) -> Any:
    """The user id a session names, or None when it is not one (a tampered or stale session: nobody)."""
    try:
        return get_user_model()._meta.pk.to_python(session[SESSION_KEY])
    except Exception:
        return None


def _hash_matches(session, user) -> bool:
    """Whether the session was signed in with the user's current password (or a fallback key's hash of it)."""
    session_hash = session.get(HASH_SESSION_KEY, "")
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return bool(session_hash) and any(constant_time_compare(session_hash, known) for known in hashes)


# The session engine and backend whose decision socket_user makes with plain queries; others go through session_user.
DB_SESSIONS = "django.contrib.sessions.backends.db"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def socket_user(session_key: str | None):
    """session_user's decision for a socket that opens, with its profile read along: two plain queries, where
    Django's SessionStore, ModelBackend and the profile's descriptor cost three ORM queries whose building was
    most of their cost (~1.4 ms of CPU against ~0.2 in a reconnect storm: bench/README.md, "Issue 17")."""
    if not session_key or settings.SESSION_ENGINE != DB_SESSIONS:
        return session_user(session_key)
    session = _stored_session(session_key)
    backend_path = session.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in session or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    if backend_path != MODEL_BACKEND:
        return session_user(session_key)
    user_id = _user_id(session)
    if user_id is None:
        return None
    user = _user_with_profile(user_id)
    if user is None or not getattr(user, "is_active", True):  # as ModelBackend.get_user
        return None
    return user if _hash_matches(session, user) else None


def _stored_session(session_key: str) -> dict:
    """What SessionStore(session_key).load() reads: the unexpired session's data, decoded ({} if none)."""
    store = import_module(DB_SESSIONS).SessionStore
    if len(session_key) < 8:  # SessionBase's own check of a key
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_session_sql(), [session_key, connection.ops.adapt_datetimefield_value(timezone.now())])
        row = cursor.fetchone()
    return store().decode(row[0]) if row else {}


@functools.cache
def _session_sql() -> str:
    table = import_module(DB_SESSIONS).SessionStore.get_model_class()._meta.db_table  # django_session
    return f"SELECT session_data FROM {connection.ops.quote_name(table)} WHERE session_key = %s AND expire_date > %s"


@functools.cache
def _user_and_profile() -> tuple[rows.Columns, rows.Columns, str]:
    """The columns of a user and of their profile, and the query that reads them by the user's key."""
    users, profiles = rows.Columns(get_user_model(), "u"), rows.Columns(Profile, "p")
    user_model, quote = get_user_model(), connection.ops.quote_name
    user_pk, profile_user = quote(user_model._meta.pk.column), quote(Profile._meta.get_field("user").column)
    sql = (
        f"SELECT {users.sql()}, {profiles.sql()} FROM {quote(user_model._meta.db_table)} u"
        f" LEFT JOIN {quote(Profile._meta.db_table)} p ON p.{profile_user} = u.{user_pk} WHERE u.{user_pk} = %s"
    )
    return users, profiles, sql


def _user_with_profile(user_id):
    """The user (active or not) with their profile read along (profiles.profile_of), or None."""
    users, profiles, sql = _user_and_profile()
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    user = users.instance(row[: len(users)])
    profile = profiles.instance(row[len(users) :]) if row[len(users)] is not None else None
    # user.profile: this one, or DoesNotExist
    get_user_model().profile.related.set_cached_value(user, profile)
    if profile is not None:
        Profile.user.field.set_cached_value(profile, user)
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
    """Puts the session key into a socket's scope; the consumer reads who it signs in (socket_user) once it has
    accepted the socket, in the same database call as the room (consumers.ChatConsumer.connect).

    Channels' AuthMiddlewareStack loads the user here, but wraps `send` to save the session, a check paid on
    every frame a socket is sent (thousands per second in a busy room) and three copies of the scope per
    socket. A chat socket never changes its session. Loading the user here, before the consumer accepts,
    cost a second thread hop per socket, and in a reconnect storm the sockets queued behind the database past
    daphne's 5 s handshake timeout: none of 5,000 opened (bench/README.md, "Issue 17").
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        return await self.inner({**scope, "session_key": session_key_of(scope)}, receive, send)


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
