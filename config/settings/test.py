"""Test settings: fast hashing, in-memory caches; the database still comes from DATABASE_URL."""

from .base import *  # noqa: F401,F403

DEBUG = False
SECRET_KEY = "django-insecure-test-only"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_AUTOREFRESH = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The suite's connections are the test runner's (it creates and flushes the test database
# through them): no pool here. The pool is exercised by scripts/reliability.py (faults, soak),
# which run the production settings on PostgreSQL.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
