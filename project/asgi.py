import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: they load models.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import SuspiciousFileOperation  # noqa: E402
from django.http import Http404  # noqa: E402

from chat.accounts import SocketAuthMiddleware  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402


class StaticFiles(ASGIStaticFilesHandler):
    """Django's static files handler, answering 404 (not 500) to a path that leaves the static folders."""

    def serve(self, request):
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("No such file.") from None


application = ProtocolTypeRouter(
    {
        # Static files are served by the app itself so that `make run` needs nothing else;
        # put a caching proxy or CDN in front in production.
        "http": StaticFiles(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(SocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
