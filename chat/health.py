"""Probes and metrics for whoever runs the site: /healthz, /readyz and /metrics.

- /healthz: the process answers (no I/O): restart it if not.
- /readyz: the database answers `SELECT 1` and, with Redis configured, Redis answers PING
  within REDIS_TIMEOUT_SECONDS: send it traffic only then. Otherwise 503 naming what is down.
- /metrics: this process's metrics (chat/metrics.py) in Prometheus's text format, to
  the machine itself (127.0.0.1, ::1) or to `Authorization: Bearer <CHAT_METRICS_TOKEN>`;
  anyone else gets 404, as if there were nothing here.

Plain sync views (ASGI runs them in a thread, so the blocking checks never hold the
event loop). They need no login and never touch the session, so a probe makes no
session row, sets no cookie and is never throttled; no answer is cached.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import shared_redis
from .limits import client_address
from .metrics import REGISTRY

logger = logging.getLogger(__name__)

# A readiness probe must answer before the prober gives up (Kubernetes: 1 s by default).
REDIS_TIMEOUT_SECONDS = 1.0

View = Callable[[HttpRequest], HttpResponse]


def probe(view: View) -> View:
    """GET or HEAD only; never stored by a browser or proxy."""

    @require_safe
    def wrapped(request: HttpRequest) -> HttpResponse:
        response = view(request)
        response["Cache-Control"] = "no-store"
        return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


@probe
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and serving requests."""
    return text("ok\n")


@probe
def readyz(request: HttpRequest) -> HttpResponse:
    """The database and (when configured) Redis answer: 200 "ok", else 503 with what is down."""
    down = [name for name, check in (("database", database_answers), ("redis", redis_answers)) if not check()]
    if down:
        return text("".join(f"{name} down\n" for name in down), status=503)
    return text("ok\n")


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("readiness: the database did not answer", exc_info=True)
        return False
    return True


def redis_answers() -> bool:
    """True without Redis (neither REDIS_URL nor REDIS_SENTINELS: one process, in-memory layer and cache).

    With Sentinel, PING goes to the master the sentinels name: "redis down" while none is named (a failover)."""
    if not shared_redis.configured():
        return True
    # A client of its own, closed at once: the channel layer's pools belong to the event loop.
    client = shared_redis.sync_client(timeout=REDIS_TIMEOUT_SECONDS)
    try:
        client.ping()
    except Exception:
        logger.warning("readiness: Redis did not answer", exc_info=True)
        return False
    finally:
        client.close()
    return True


@probe
def metrics(request: HttpRequest) -> HttpResponse:
    """This process's metrics, to the machine itself or to the bearer of CHAT_METRICS_TOKEN; 404 to anyone else."""
    if not (has_token(request) or is_local(request)):
        raise Http404
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def has_token(request: HttpRequest) -> bool:
    token = settings.CHAT_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def is_local(request: HttpRequest) -> bool:
    """The request comes from this machine, not through a proxy.

    A reverse proxy on the same machine connects from 127.0.0.1 too: when it is not one
    of CHAT_TRUSTED_PROXIES, client_address gives its address and the X-Forwarded-For it
    added is the only sign the request came from elsewhere, so such a request is not local.
    """
    address = client_address(request)
    if address == request.META.get("REMOTE_ADDR", "") and "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
