from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core.audit import register_audited
        from memberships.models import AccountMembership, Membership, Utility

        register_audited(AccountMembership)
        register_audited(Utility)
        register_audited(Membership)
