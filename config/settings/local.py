"""Development settings: DEBUG on, SQLite, a throwaway secret."""

from .base import *  # noqa: F401,F403
from .base import env, env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env("DJANGO_SECRET_KEY") or "django-insecure-local-development-only-not-for-production"
