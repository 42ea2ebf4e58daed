from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from config.audit import register_audited
        from memberships.models import AccountMembership

        register_audited(AccountMembership)
