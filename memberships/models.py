"""Who belongs where: people in accounts (and, later, in utilities)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccountMembershipQuerySet(models.QuerySet):
    def for_user(self, user):
        """Memberships of the accounts the user sees (not the default account's), and their own."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.all()
        from accounts.models import Account

        visible = Account.objects.for_user(user, include_default=False).values("pk")
        return self.filter(models.Q(account__in=visible) | models.Q(user_id=user.pk))


class AccountMembership(models.Model):
    """A person's role in an account: user < consultant < admin."""

    class Role(models.TextChoices):
        USER = "user"
        CONSULTANT = "consultant"
        ADMIN = "admin"

    RANK = {Role.USER: 0, Role.CONSULTANT: 1, Role.ADMIN: 2}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_memberships")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="account_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = AccountMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="accountmembership_unique_pair",
                                    violation_error_message="This user is already a member of this account."),
        ]
        indexes = [models.Index(fields=["account", "role"], name="accountmembership_role_idx")]

    def __str__(self):
        return f"{self.user} in {self.account} ({self.role})"

    def audit_account_id(self):
        return self.account_id
