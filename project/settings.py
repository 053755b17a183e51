"""Settings read from the environment.

With no environment set, the site runs for local development: DEBUG on, SQLite
(WAL) and the in-memory channel layer. Production sets DJANGO_DEBUG=0, which
requires DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS and turns on HTTPS-only
cookies, HSTS and the SSL redirect. DATABASE_URL and REDIS_URL (or REDIS_SENTINELS)
switch to PostgreSQL and Redis.

One module, as Django expects, of about 300 lines: each group of settings says where it is used.
"""

import json
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project import redis_env

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", LOCAL_HOSTS if DEBUG else [])
if DEBUG:
    # A laptop serving a classroom (README) names its LAN address and still opens itself as 127.0.0.1.
    ALLOWED_HOSTS += [host for host in LOCAL_HOSTS if host not in ALLOWED_HOSTS]
if "*" in ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name the site's hosts, not '*'.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "csp",
    "axes",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the cookie set_language leaves, else Accept-Language; the reader's own choice, once
    # signed in, wins (chat.looks.ReaderLookMiddleware, after AuthenticationMiddleware).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "chat.looks.ReaderLookMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Refuses a login that chat/login_throttle.py has locked out, before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "project.asgi.application"

# Database: SQLite with WAL by default, anything dj-database-url reads otherwise.
SQLITE_OPTIONS = {
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on the
    # busy timeout instead of failing with "database is locked" on lock upgrade.
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
# The sockets' database calls all run in one long-lived thread, which keeps its
# connection for CONN_MAX_AGE (opening one cost more than the query). Under ASGI each
# HTTP request runs in a thread and context of its own: Django's end-of-request
# cleanup does not reach its connection, which is closed when garbage-collected,
# whatever CONN_MAX_AGE says (seen on PostgreSQL with 0 and with 60).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
    # A file, not memory, so that tests exercise WAL and several connections.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: in memory for one process, Redis for several: one server (REDIS_URL), or the master that Redis
# Sentinel names (REDIS_SENTINELS, REDIS_SENTINEL_MASTER...; project/redis_env.py reads them). The chat's own
# Redis clients (chat/shared_redis.py) follow the same settings.
REDIS_URL = os.environ.get("REDIS_URL", "")
_sentinel = redis_env.sentinel_settings(os.environ)
REDIS_SENTINELS: list[tuple[str, int]] = _sentinel["REDIS_SENTINELS"]
REDIS_SENTINEL_MASTER: str = _sentinel["REDIS_SENTINEL_MASTER"]
REDIS_SENTINEL_KWARGS: dict = _sentinel["REDIS_SENTINEL_KWARGS"]  # to the sentinels: timeouts, password
REDIS_MASTER_KWARGS: dict = _sentinel["REDIS_MASTER_KWARGS"]  # to the master they name: db, password
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if REDIS_URL or REDIS_SENTINELS:
    # Redis Pub/Sub through the chat's own Redis clients: one PUBLISH per event (chat/live/bus.py says why not
    # channels-redis's layers).
    CHANNEL_LAYERS = {"default": {"BACKEND": "chat.live.bus.RedisPubSubLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 5000, "expiry": 30},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"
# A password-reset link from the people page (there is no email) works once, for a day.
PASSWORD_RESET_TIMEOUT = 24 * 3600

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The time zone of readers who have not chosen one (their profile's setting wins): times are stored in UTC and
# shown in the reader's zone (chat/looks.py).
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `collectstatic` copies them for the web server (deploy/: nginx serves /static/ from here).
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")

# Cache: shared through Redis when there is one (nothing in the chat uses it today: login failures are counted
# in the database).
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
elif REDIS_SENTINELS:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://sentinel",  # unused: the pool asks the sentinels for the master
            "OPTIONS": {"pool_class": "chat.shared_redis.CachePool"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Chat rules, tunable per deployment.
CHAT_PAGE_SIZE = 50
# Rendered messages each process keeps (chat/message_html.py): about 2.3 KB each, so ~20 MB; enough for the newest
# page of 80 rooms in two looks. A page of 50 kept messages renders in a tenth of the time (bench/README.md).
CHAT_MESSAGE_HTML_KEPT = int(os.environ.get("CHAT_MESSAGE_HTML_KEPT", "8192"))
# Largest frame a page may send (project/serve.py gives daphne the same number).
CHAT_MAX_FRAME_BYTES = 64 * 1024
# Frames the server sends are packed up to this size (chat/frames.py); daphne's own
# limit on what it sends is higher (project/serve.py), so no frame of ours is dropped.
CHAT_MAX_SENT_FRAME_BYTES = 64 * 1024
# A reconnecting page is sent every message it missed, up to this many; past that it
# gets the newest page of the log with "load older", as a freshly loaded page would.
CHAT_CATCH_UP_MAX_MESSAGES = int(os.environ.get("CHAT_CATCH_UP_MAX_MESSAGES", "500"))
CHAT_HEARTBEAT_SECONDS = float(os.environ.get("CHAT_HEARTBEAT_SECONDS", "20"))
# Flood control: frames per user per second (token bucket, shared through Redis when configured).
CHAT_RATE_PER_SECOND = float(os.environ.get("CHAT_RATE_PER_SECOND", "5"))
CHAT_RATE_BURST = float(os.environ.get("CHAT_RATE_BURST", "10"))
CHAT_MAX_SOCKETS_PER_USER = int(os.environ.get("CHAT_MAX_SOCKETS_PER_USER", "20"))
# A socket's session and room access, checked in the database when it opens, are checked again by a frame at most
# this often: a sign-out, a new password, a deactivation or a removal closes its sockets at once on every process
# (a broadcast), and while the broadcasts may be lost (the layer failed) every frame checks. What no broadcast
# announces (a session expiring, deleted in the admin) stops a socket within this long (chat/consumers.py).
CHAT_ACCESS_RECHECK_SECONDS = float(os.environ.get("CHAT_ACCESS_RECHECK_SECONDS", "30"))
# Accounts created per address and rooms per user (token buckets, shared through Redis when configured).
# A class signing up together behind one address fits in the burst.
CHAT_SIGNUPS_PER_HOUR = float(os.environ.get("CHAT_SIGNUPS_PER_HOUR", "60"))
CHAT_SIGNUPS_BURST = float(os.environ.get("CHAT_SIGNUPS_BURST", "60"))
CHAT_ROOMS_PER_HOUR = float(os.environ.get("CHAT_ROOMS_PER_HOUR", "30"))
CHAT_ROOMS_BURST = float(os.environ.get("CHAT_ROOMS_BURST", "10"))
# Anyone may create an account (on): otherwise, once the first account exists, only through the site's join
# link (chat/invitations.py).
CHAT_OPEN_SIGNUP = env_bool("CHAT_OPEN_SIGNUP", False)
# Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated), e.g.
# "127.0.0.1,10.0.0.0/8" behind nginx: chat/limits.py client_address.
CHAT_TRUSTED_PROXIES = env_list("CHAT_TRUSTED_PROXIES", [])
# /metrics (chat/health.py) answers requests from this machine, and, when this is set, requests carrying
# "Authorization: Bearer <token>" from anywhere (a Prometheus on another host); anyone else gets 404.
CHAT_METRICS_TOKEN = os.environ.get("CHAT_METRICS_TOKEN", "")

# Files attached to messages (chat/attachments.py). Kept through Django's storage API: a directory
# outside the static files by default; any backend by name, e.g. S3-compatible storage through
# django-storages (README: "Files"). No URL serves the storage itself: /files/<id>/ checks who asks.
MEDIA_ROOT = Path(os.environ.get("CHAT_MEDIA_ROOT") or BASE_DIR / "media")
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("CHAT_FILE_STORAGE") or "django.core.files.storage.FileSystemStorage",
        "OPTIONS": json.loads(os.environ.get("CHAT_FILE_STORAGE_OPTIONS") or "{}"),
    },
    # In production `{% static %}` names files by their content (css/chat.<hash>.css, from the manifest that
    # collectstatic writes), so the web server lets browsers keep them for a year; while debugging (and in
    # the tests) files are found where they are, without collectstatic.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage."
        + ("StaticFilesStorage" if DEBUG else "ManifestStaticFilesStorage")
    },
}
CHAT_MAX_UPLOAD_BYTES = int(os.environ.get("CHAT_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))  # each file
CHAT_MAX_ATTACHMENTS = int(os.environ.get("CHAT_MAX_ATTACHMENTS", "10"))  # files per message
# Pixels an image may decode to, over all its frames (a 48-megapixel phone photo fits): past this it is
# refused before it is decoded, as Pillow refuses decompression bombs (Image.MAX_IMAGE_PIXELS).
CHAT_MAX_IMAGE_PIXELS = int(os.environ.get("CHAT_MAX_IMAGE_PIXELS", "60000000"))
CHAT_UPLOADS_PER_HOUR = float(os.environ.get("CHAT_UPLOADS_PER_HOUR", "120"))
CHAT_UPLOADS_BURST = float(os.environ.get("CHAT_UPLOADS_BURST", "20"))
# daphne keeps a request's whole body (then queues it in memory) and has no limit of its own:
# project/serve.py refuses bodies over this with 413. Every file at its largest, and the form.
CHAT_MAX_REQUEST_BYTES = int(
    os.environ.get("CHAT_MAX_REQUEST_BYTES") or CHAT_MAX_UPLOAD_BYTES * CHAT_MAX_ATTACHMENTS + 1024 * 1024
)
# Uploads over 2.5 MiB are spooled to a temporary file rather than held in memory (Django's default,
# stated). Django refuses a request with more files than this with a bare 400: above the chat's own
# limit, so that choosing a few too many gets the chat's message.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = max(100, 2 * CHAT_MAX_ATTACHMENTS)
# Production: let the web server send the file once the view has checked who asks (README: "Files").
# "x-accel-redirect" (nginx: an internal location at CHAT_FILES_ACCEL_PREFIX aliasing MEDIA_ROOT),
# "x-sendfile" (Apache mod_xsendfile, lighttpd: local storage only), or "" (the view streams it).
CHAT_FILES_SENDFILE = os.environ.get("CHAT_FILES_SENDFILE", "").strip().lower()
CHAT_FILES_ACCEL_PREFIX = os.environ.get("CHAT_FILES_ACCEL_PREFIX", "/protected-files/")
if CHAT_FILES_SENDFILE not in {"", "x-accel-redirect", "x-sendfile"}:
    raise ImproperlyConfigured("CHAT_FILES_SENDFILE must be x-accel-redirect, x-sendfile or empty.")

# Failed logins (django-axes, chat/login_throttle.py): 5 per (address, username), 100 per address, for 15 minutes.
AXES_HANDLER = "chat.login_throttle.LoginFailures"
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"], "ip_address"]  # the handler reads them in this order
AXES_FAILURE_LIMIT = 5
CHAT_LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("CHAT_LOGIN_FAILURES_PER_ADDRESS", "100"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "chat.limits.client_address"
AXES_USERNAME_CALLABLE = "chat.login_throttle.username_key"
AXES_LOCKOUT_CALLABLE = "chat.login_throttle.locked_out"
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# Content-Security-Policy (django-csp 4): no inline script or style anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "connect-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Probes and scrapes reach the process directly over plain HTTP: a redirect would hide their answer.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [f"https://{h}" for h in ALLOWED_HOSTS])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # CHAT_LOG_FORMAT=json: one JSON object per line (chat/logs.py).
    "formatters": {
        "chat": {
            "()": "chat.logs.JsonFormatter" if os.environ.get("CHAT_LOG_FORMAT") == "json" else "chat.logs.Formatter"
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "chat"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"chat": {"level": os.environ.get("CHAT_LOG_LEVEL", "INFO")}},
}
