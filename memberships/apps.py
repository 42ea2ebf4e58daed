from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import models as accounts_models
        from core.audit import register_audited
        from memberships import rules  # noqa: F401 (registers the role rules)
        from memberships.models import Membership, Utility

        register_audited(Utility)
        register_audited(Membership)
        # People who share a utility see each other; accounts count the utilities a caller sees.
        accounts_models.SHARED_PEOPLE.append(Membership.objects.for_user)
        accounts_models.ACCOUNT_COUNTS["utility_count"] = (
            lambda user: Utility.objects.for_user(user) if user is not None else Utility.objects.all())
