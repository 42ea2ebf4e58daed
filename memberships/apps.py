from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import models as accounts_models
        from accounts.services import invitations
        from core.audit import register_audited
        from memberships import (
            rules,  # noqa: F401 (registers the role rules)
            services,
        )
        from memberships.models import Membership, Utility

        register_audited(Utility)
        register_audited(Membership)
        # People who share a utility see each other; accounts count the utilities a caller sees.
        accounts_models.SHARED_PEOPLE.append(Membership.objects.for_user)
        # Invitations into utilities: their admins see and manage them; accepting joins.
        accounts_models.MANAGED_UTILITY_IDS.append(
            lambda user: Membership.objects.filter(user_id=user.pk, role=Membership.Role.ADMIN).values("utility_id"))
        invitations.TARGETS["memberships.utility"] = {
            "default_role": Membership.Role.SPECTATOR,
            "roles": [choice for choice, _ in Membership.Role.choices],
            "is_member": lambda email, utility: Membership.objects.filter(
                utility=utility, user__email__iexact=email).exists(),
            "join": lambda user, utility, role: services.membership_create(
                actor=user, user=user, utility=utility, role=role, is_subscriber=False),
        }
        accounts_models.ACCOUNT_COUNTS["utility_count"] = (
            lambda user: Utility.objects.for_user(user) if user is not None else Utility.objects.all())
