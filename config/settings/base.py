"""Settings shared by every environment; values come from DJANGO_* environment variables."""

import os
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import __version__

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name, default=None):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


ROSTER_VERSION = __version__

SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_json_api",
    "django_filters",
    "guardian",
    "auditlog",
    "axes",
    "accounts",
    "memberships",
    "billing",
    "portal",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "jsonapi.middleware.ApiRequestMiddleware",
    "jsonapi.middleware.ApiBodySizeLimitMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.AuthenticationMiddleware",
    "core.middleware.BrowserIdleTimeoutMiddleware",
    "core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.audit.AuditlogMiddleware",
    "accounts.middleware.AxesMiddleware",  # axes' own, on its sync path (see there)
]

# Content-Security-Policy on every response (django-csp): pages load scripts, styles, fonts
# and frames from this server only, no inline script or style anywhere (the portal keeps its
# CSS and JS in static files; the API docs page loads its init script from itself). Images
# may also come over https (accounts' `logoUrl`) and as data: URIs. API documents get the
# same header, which forbids them everything, as they load nothing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "https:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Sent in development too (production.py repeats the stricter ones it always had).
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "core.context_processors.roster",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 0),  # no persistent connections under ASGI (see below)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let several gunicorn workers share one SQLite file
    # without "database is locked" errors on concurrent writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # Under ASGI each request's sync code runs in a thread of its own, so connections kept
    # per thread pile up (PostgreSQL's "too many clients", seen in the soak): the default is
    # a connection per request (DJANGO_CONN_MAX_AGE=0). With a longer age, a persistent
    # connection is checked before each request reuses it, so the server
    # recovers by itself once a restarted database is back; an unreachable database is
    # given up on after DJANGO_DB_CONNECT_TIMEOUT seconds (a 503, never a hang).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DJANGO_DB_CONNECT_TIMEOUT", 3)
    if env_bool("DJANGO_DB_POOL", True) and DATABASES["default"]["CONN_MAX_AGE"] == 0:
        # A pool of connections per worker process (psycopg_pool, Django's OPTIONS["pool"]):
        # a request borrows one and gives it back, instead of connecting (a new PostgreSQL
        # backend process, ~3-10 ms here) every time. The pool checks a connection before
        # lending it (CONN_HEALTH_CHECKS), so connections a restarted database dropped are
        # replaced by themselves; while the database is down, a request waits at most
        # DJANGO_DB_POOL_TIMEOUT seconds for one and then gets the 503 `service_unavailable`.
        # The pool's own reconnection backs off exponentially (1, 2, 4, 8 s ...), which would
        # leave a server answering 503 for many seconds after the database is back; so each
        # reconnection gives up after the same few seconds, and the next request that finds
        # the pool empty starts a fresh attempt at once.
        # Half a second: a worker serves one request at a time (core.asgi), so a request
        # never waits for a connection another request holds; only an unreachable database
        # makes it wait, and the worker's queued requests each wait in turn (2 s made the
        # second in line answer its 503 after 4 s).
        pool_timeout = env_float("DJANGO_DB_POOL_TIMEOUT", 0.5)
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env_int("DJANGO_DB_POOL_MIN", 2),
            "max_size": env_int("DJANGO_DB_POOL_MAX", 16),
            "timeout": pool_timeout,
            "reconnect_timeout": pool_timeout,
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LockoutBackend",
    "accounts.backends.RosterBackend",
    # Object permissions from account and utility roles (the rules in each app's rules.py).
    "core.rules.RoleBackend",
    "core.rules.GuardianBackend",
]
# guardian looks for its own backend by name; core.rules.GuardianBackend is that backend.
# axes.W002 looks for its middleware's exact dotted path; ours is its subclass that keeps to
# the sync path (accounts/middleware.py), which tests/test_asgi.py checks is in MIDDLEWARE.
SILENCED_SYSTEM_CHECKS = ["guardian.W001", "axes.W002"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve straight from the apps' static folders, so no collectstatic step is needed
# before gunicorn can serve the admin and portal assets.
WHITENOISE_USE_FINDERS = True

# The cache every gunicorn worker and app server shares (throttles count per user, not per
# process): a database table, created by `migrate`, or Redis when DJANGO_REDIS_URL is set.
# Never a world-writable directory: a file cache unpickles whatever is put there.
if env("DJANGO_REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": env("DJANGO_REDIS_URL")}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "roster_cache"}}

# Request bodies above this are refused with 413 (SPEC §2).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
ROSTER_MAX_BODY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
ROSTER_AVATAR_MAX_BYTES = 1024 * 1024
ROSTER_AVATAR_SIZE = 256
ROSTER_ACTIVATION_CODE_TTL = timedelta(hours=1)

# Billing (SPEC §3 Product types): the site's default storage cost, coins per GiB, shown as
# the product-type list's `meta.defaultStorageCost`. A decimal, never a float.
try:
    ROSTER_DEFAULT_STORAGE_COST = Decimal(env("DJANGO_DEFAULT_STORAGE_COST", "0.25")).quantize(Decimal("0.0001"))
except InvalidOperation as exc:
    raise ImproperlyConfigured("DJANGO_DEFAULT_STORAGE_COST must be a decimal number of coins.") from exc
if not ROSTER_DEFAULT_STORAGE_COST.is_finite() or ROSTER_DEFAULT_STORAGE_COST < 0:
    raise ImproperlyConfigured("DJANGO_DEFAULT_STORAGE_COST must be a decimal number of coins ≥ 0.")

# Under ASGI, ordinary requests' sync work runs on one thread per worker process, one
# request at a time (core.asgi says why: a thread per request served 35 % fewer requests).
# True restores Django's default, a thread per request.
ASGI_THREAD_PER_REQUEST = env_bool("DJANGO_ASGI_THREAD_PER_REQUEST", False)

# Assets (SPEC §3): a secret's content is encrypted at rest with Fernet keys, comma-separated
# in DJANGO_ASSET_KEYS; the first encrypts, every one decrypts (add a new key in front, then
# `manage.py rotate_asset_keys`, then drop the old one). Without it, development and tests
# derive a key from SECRET_KEY (billing.crypto); production refuses to start.
ROSTER_ASSET_KEYS = env_list("DJANGO_ASSET_KEYS", "")
ROSTER_ASSET_KEYS_REQUIRED = False


def check_asset_keys(keys) -> None:
    """ImproperlyConfigured unless every key is a Fernet key; the message never shows a key."""
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"DJANGO_ASSET_KEYS: key {position} of {len(keys)} is not a Fernet key (32 url-safe "
                "base64-encoded bytes, e.g. from `python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"`).") from None


check_asset_keys(ROSTER_ASSET_KEYS)

# Bearer sessions (SPEC §3 Sessions).
ROSTER_SESSION_IDLE_TTL = timedelta(seconds=env_int("DJANGO_SESSION_IDLE_TTL", 8 * 3600))
ROSTER_SESSION_ABSOLUTE_TTL = timedelta(seconds=env_int("DJANGO_SESSION_ABSOLUTE_TTL", 30 * 86400))
# How often a request may move a session's lastSeenAt (and idle expiry) forward.
# Signed-in browsers (portal, admin: cookie sessions) end after this long without a request,
# and after the absolute limit in any case.
ROSTER_BROWSER_IDLE_TTL = timedelta(seconds=env_int("DJANGO_BROWSER_IDLE_TTL", 2 * 3600))
ROSTER_BROWSER_ABSOLUTE_TTL = timedelta(seconds=env_int("DJANGO_BROWSER_ABSOLUTE_TTL", 7 * 86400))
SESSION_COOKIE_AGE = int(ROSTER_BROWSER_ABSOLUTE_TTL.total_seconds())
ROSTER_SESSION_TOUCH_INTERVAL = timedelta(seconds=env_int("DJANGO_SESSION_TOUCH_INTERVAL", 60))
ROSTER_SIGNUP_ENABLED = env_bool("DJANGO_SIGNUP_ENABLED", True)
# Where the links in mails point (verification, invitations): the portal's public address.
ROSTER_SITE_URL = env("DJANGO_SITE_URL", "http://localhost:8000")
ROSTER_EMAIL_VERIFICATION_TTL = timedelta(days=env_int("DJANGO_EMAIL_VERIFICATION_DAYS", 3))
ROSTER_INVITATION_TTL = timedelta(days=env_int("DJANGO_INVITATION_DAYS", 7))
# Invitations one person may send per hour (each mails an address they choose)
ROSTER_INVITATIONS_PER_HOUR = env_int("DJANGO_INVITATIONS_PER_HOUR", 50)
# Limits on what mails an address someone else chooses (core.limits; "N/second|minute|hour|day"),
# each counted per key: per client address, and per mailed address (hashed), or per user.
ROSTER_LIMITS = {
    "signup_client": env("DJANGO_SIGNUP_CLIENT_LIMIT", "20/hour"),
    "signup_address": env("DJANGO_SIGNUP_ADDRESS_LIMIT", "3/hour"),
    "password_reset_client": env("DJANGO_PASSWORD_RESET_CLIENT_LIMIT", "20/hour"),
    "password_reset_address": env("DJANGO_PASSWORD_RESET_ADDRESS_LIMIT", "3/hour"),
    "verification_mail": env("DJANGO_VERIFICATION_MAIL_LIMIT", "5/hour"),
}
ROSTER_USE_X_FORWARDED_FOR = env_bool("DJANGO_USE_X_FORWARDED_FOR", False)
# How many proxies in front of the server append to X-Forwarded-For; the client's address is
# the entry the outermost of them appended (that many from the right).
ROSTER_TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 1)

# LDAP login for users whose strategy is `ldap`; off unless a server is configured.
ROSTER_LDAP_SERVER_URI = env("DJANGO_LDAP_SERVER_URI", "")
ROSTER_LDAP_USER_DN_TEMPLATE = env("DJANGO_LDAP_USER_DN_TEMPLATE", "uid=%(username)s,ou=people,dc=example,dc=org")
ROSTER_LDAP_TIMEOUT = env_int("DJANGO_LDAP_TIMEOUT", 5)

# Brute-force lockout (django-axes): N failures for one username from one address
# within the cool-off window lock that pair for the window.
AXES_ENABLED = env_bool("DJANGO_AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("DJANGO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DJANGO_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Every failure is logged too, so failures for one person from any addresses are counted:
# this many within the window lock the person for AXES_COOLOFF_TIME (accounts.backends).
AXES_ENABLE_ACCESS_FAILURE_LOG = True
ROSTER_USERNAME_FAILURE_LIMIT = env_int("DJANGO_USERNAME_FAILURE_LIMIT", 50)
ROSTER_USERNAME_FAILURE_WINDOW = timedelta(minutes=env_int("DJANGO_USERNAME_FAILURE_WINDOW_MINUTES", 60))
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.backends.axes_username"
AXES_CLIENT_IP_CALLABLE = "core.net.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

# django-auditlog: our entry model carries the account id of what changed.
AUDITLOG_LOGENTRY_MODEL = "accounts.AuditLogEntry"
# auditlog's own migrations create its default table even when the model is swapped out
# (they predate its swappable setting). That orphan table, with foreign keys to users and
# content types, breaks `flush` on PostgreSQL; we never use it, so its migrations are off.
MIGRATION_MODULES = {"auditlog": None}
AUDITLOG_MASK_CALLABLE = "core.audit.mask_secret"
AUDITLOG_STORE_JSON_CHANGES = True

# django-guardian
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "jsonapi.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "jsonapi.pagination.IdsFirstPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_PARSER_CLASSES": ("jsonapi.parsers.JSONAPIParser",),
    "DEFAULT_RENDERER_CLASSES": ("jsonapi.renderers.JSONAPIRenderer",),
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "jsonapi.negotiation.ContentNegotiation",
    "DEFAULT_METADATA_CLASS": "jsonapi.metadata.Metadata",
    "DEFAULT_FILTER_BACKENDS": (
        "jsonapi.query.OrderingFilter",
        "jsonapi.query.FilterBackend",
    ),
    "DEFAULT_AUTHENTICATION_CLASSES": (
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ),
    "DEFAULT_PERMISSION_CLASSES": ("rest_framework.permissions.IsAuthenticated",),
    "DEFAULT_THROTTLE_RATES": {
        "activation": env("DJANGO_ACTIVATION_THROTTLE", "20/hour"),
        "contact_lookup": env("DJANGO_CONTACT_LOOKUP_THROTTLE", "30/hour"),
    },
    "ORDERING_PARAM": "sort",
    "TEST_REQUEST_RENDERER_CLASSES": (
        "rest_framework_json_api.renderers.JSONRenderer",
        "rest_framework.renderers.MultiPartRenderer",
    ),
    "TEST_REQUEST_DEFAULT_FORMAT": "vnd.api+json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "jsonapi.schema.RosterAutoSchema",
}
JSON_API_FORMAT_FIELD_NAMES = "camelize"
JSON_API_FORMAT_TYPES = False
JSON_API_PLURALIZE_TYPES = False
JSON_API_UNIFORM_EXCEPTIONS = True
# GET lists and details through the fast read path (jsonapi.documents); off = DJA's renderer only.
API_FAST_READ = True

# The OpenAPI document at /api/v1/schema/ and its docs page (SPEC §3 "Schema and docs");
# the generator's JSON:API gaps are filled in jsonapi/schema.py.
SPECTACULAR_SETTINGS = {
    "TITLE": "Roster API",
    "DESCRIPTION": "JSON:API 1.0 over HTTP: accounts, utilities, people and what they may do.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PUBLIC": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SCHEMA_COERCE_PATH_PK_SUFFIX": True,  # {account_pk} → {account_id}
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["jsonapi.schema.preprocess_endpoints"],
    # Enums stay inline: drf-spectacular's enum hook would also pull out every JSON:API `type`.
    "POSTPROCESSING_HOOKS": ["jsonapi.schema.postprocess_schema", "billing.api.events.document_sse"],
}

EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", "roster@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# Event streams (SPEC §3): pages of `/events/`, and the live `/sse/` stream: a keep-alive
# comment every N seconds, and how often a process's listener polls where there is no
# LISTEN/NOTIFY (SQLite), or re-checks on PostgreSQL in case a notification was missed.
ROSTER_EVENTS_PAGE_SIZE = 50
ROSTER_EVENTS_MAX_PAGE_SIZE = 500
ROSTER_SSE_KEEPALIVE_SECONDS = float(env("DJANGO_SSE_KEEPALIVE_SECONDS", "15"))
ROSTER_EVENTS_POLL_SECONDS = float(env("DJANGO_EVENTS_POLL_SECONDS", "0.5"))
ROSTER_EVENTS_NOTIFY_FALLBACK_SECONDS = float(env("DJANGO_EVENTS_NOTIFY_FALLBACK_SECONDS", "5"))
# How often live listeners' rights are re-checked (sessions expire, roles change, streams end),
# besides at once when an audit entry says such a thing changed.
ROSTER_SSE_RECHECK_SECONDS = float(env("DJANGO_SSE_RECHECK_SECONDS", "60"))
# Events a slow listener may have waiting before it is closed (it resumes with Last-Event-ID).
ROSTER_SSE_QUEUE_LIMIT = env_int("DJANGO_SSE_QUEUE_LIMIT", 1000)
