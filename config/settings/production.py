"""Production settings: behind a TLS-terminating proxy; the secret must come from the environment."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import ROSTER_ASSET_KEYS, SECRET_KEY, env_bool, env_int

DEBUG = env_bool("DJANGO_DEBUG", False)
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
# Secret assets are encrypted with keys of their own, never one derived from SECRET_KEY here
# (base.py has checked that each key given is a Fernet key).
ROSTER_ASSET_KEYS_REQUIRED = True
if not ROSTER_ASSET_KEYS:
    raise ImproperlyConfigured(
        "DJANGO_ASSET_KEYS must be set in production: comma-separated Fernet keys, the first one encrypting "
        "secret assets (generate one with `python -c \"from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())\"`).")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
