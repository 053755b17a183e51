"""ASGI application of the classic-Channels control: `daphne bench.classic.asgi:application`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

# The usual pattern's layer, channels-redis's (the app's own layer has groups only: chat/live/bus.py).
from django.conf import settings  # noqa: E402

from project.redis_env import channel_layer_host, sentinel_settings  # noqa: E402

settings.CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [channel_layer_host(settings.REDIS_URL, sentinel_settings(os.environ))],
            "capacity": 5000,
            "expiry": 30,
        },
    }
}

# Imported after Django is set up: they load models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from .consumers import ClassicChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/chat/<str:slug>/", ClassicChatConsumer.as_asgi())]))
        ),
    }
)
