"""Settings for `make bench`: production-like (DEBUG off), plus the ceiling views and a
per-request SQL query counter. Never used outside the benchmark."""

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import INSTALLED_APPS, MIDDLEWARE, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY") or "bench-only-secret-not-for-production-" + "x" * 20
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]
AXES_ENABLED = False
LOGGING = {"version": 1, "disable_existing_loggers": True, "root": {"level": "ERROR"}}
