"""Accounts and sessions for the load, made in the deployment's database (run with its environment).

    python -m tests.deploy.seed users <prefix> <count>   ->  JSON list of session keys, one per new account
    python -m tests.deploy.seed room <slug>              ->  JSON {"last_seq": ...} of a room

Sessions are made directly (as a login would store them): 200 logins through the form would spend a
minute hashing passwords.
"""

from __future__ import annotations

import json
import os
import sys


def users(prefix: str, count: int) -> list[str]:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for n in range(count):
        user = get_user_model()(username=f"{prefix}{n}")
        user.set_unusable_password()
        user.save()
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


def room(slug: str) -> dict:
    from chat.models import Room

    found = Room.objects.get(slug=slug)
    return {"last_seq": found.last_seq, "messages": found.messages.count()}


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    what, *args = sys.argv[1:]
    print(json.dumps(users(args[0], int(args[1])) if what == "users" else room(args[0])))
