"""Roster's project package: settings, URLs and the shared API plumbing."""

import os

__version__ = "0.1.0"


def default_settings_module() -> str:
    """Pick the settings module when DJANGO_SETTINGS_MODULE is not set.

    DJANGO_DEBUG=false means production, so that `gunicorn config.wsgi` and
    `manage.py` behave the same way when started with only environment variables.
    """
    debug = os.environ.get("DJANGO_DEBUG", "true").strip().lower()
    if debug in {"0", "false", "no", "off"}:
        return "config.settings.production"
    return "config.settings.local"
