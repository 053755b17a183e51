"""Users, sessions and rooms made straight through the ORM, and the server environment that shares them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from .procs import ROOT

BACKEND = "django.contrib.auth.backends.ModelBackend"
DROPPED_VARIABLES = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "CHAT_HEARTBEAT_SECONDS"}


def server_env(db_path: Path, secret_key: str, redis_url: str = "") -> dict[str, str]:
    """Environment of every server (and of this process): production settings, flood control out of the way."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_VARIABLES}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secret_key,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "CHAT_RATE_PER_SECOND": "100000",
            "CHAT_RATE_BURST": "100000",
            "CHAT_MAX_SOCKETS_PER_USER": "100000",
            "CHAT_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


def setup_django(env: dict[str, str]) -> None:
    """Configure Django in this process with the servers' database and secret key."""
    for key in ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"):
        os.environ[key] = env[key]
    os.environ.pop("REDIS_URL", None)  # the bench itself never needs the channel layer
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def make_sessions(count: int) -> list[tuple[str, int]]:
    """`count` signed-in users (unusable passwords), each with a session; returns (session key, user id)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    prefix = f"bench-{secrets.token_hex(3)}-"
    unusable = make_password(None)
    User.objects.bulk_create([User(username=f"{prefix}{i}", password=unusable) for i in range(count)], batch_size=500)
    users = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    sessions = []
    for user in users:
        data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: BACKEND, HASH_SESSION_KEY: user.get_session_auth_hash()}
        key = get_random_string(32, VALID_KEY_CHARS)
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
    Session.objects.bulk_create(sessions, batch_size=500)
    return [(session.session_key, user.pk) for session, user in zip(sessions, users, strict=True)]


def make_rooms(label: str, count: int, creator_id: int) -> list[tuple[int, str]]:
    """Fresh rooms through chat.rooms.create_room; returns (pk, slug) of each."""
    from django.contrib.auth.models import User

    from chat.rooms import create_room

    creator = User.objects.get(pk=creator_id)
    suffix = secrets.token_hex(2)
    return [(room.pk, room.slug) for room in (create_room(f"{label} {suffix} {i}", creator) for i in range(count))]


def add_members(pairs: set[tuple[int, int]]) -> None:
    """Make users members of rooms (user id, room id), as opening the room page does, where the app has members."""
    try:
        from chat.models import Membership
    except ImportError:
        return
    members = [Membership(user_id=user_id, room_id=room_id) for user_id, room_id in sorted(pairs)]
    Membership.objects.bulk_create(members, batch_size=500, ignore_conflicts=True)


def sample_frame_bytes(creator_id: int, body: str) -> int:
    """Size of the app's live frame for one new message with this body (the bare control sends as many bytes)."""
    from django.contrib.auth.models import User

    from chat import rooms, services
    from chat.live import frames

    creator = User.objects.get(pk=creator_id)
    room = rooms.create_room(f"bench sample {secrets.token_hex(3)}", creator)
    message = services.post_message(room, creator, body).message
    frame = frames.render_new_message_frame(message)
    return len(frame.encode())


def last_seqs(room_ids: list[int]) -> dict[int, int]:
    """Sequence number of each room's newest stored message (call from a thread, not the event loop)."""
    from django.db import close_old_connections

    from chat.models import Room

    try:
        return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "last_seq"))
    finally:
        close_old_connections()
