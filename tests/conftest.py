import itertools

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets its own channel layer (and so its own event-loop-bound queues)."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, **extra):
        username = username or f"user{next(_names)}"
        return get_user_model().objects.create_user(username=username, password="a-long-test-password", **extra)

    return make


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value
