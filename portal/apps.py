from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The top layer: the dashboard and the pages that span apps, and `seed_demo`."""

    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"
