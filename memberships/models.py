"""Who belongs where: people in accounts, the utilities (billing units) of accounts, people in utilities."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountMembership, visible_account_ids
from core.validators import single_line
from core.visibility import VisibleQuerySet
from core.visibility import ids_branch as _ids

# --------------------------------------------------------------------------- visibility
#
# Each `for_user()` filters one indexed column against a subquery of ids, e.g.
# `utility_id IN (ids)`, where the ids are a UNION of branches that each start from the
# user's own rows and follow indexes. Written as ORs across joins (membership → utility →
# account → consultancy) or as ORed EXISTS per row, the same rules made the database test
# every row of the table: all 100,000 memberships of the benchmark to list the 2,000 of a
# member of 20 utilities. ORs of `IN`s would not do either: PostgreSQL cannot turn an
# `IN (subquery)` under an OR into a join, so it scans the table and probes every row.


def membership_utility_ids(user):
    """Ids of the utilities whose memberships the user reads: those they are a member of, those
    of the accounts they are an admin or consultant of, and those of these accounts' clients."""
    senior = AccountMembership.SENIOR_ROLES
    own = Membership.objects.filter(user_id=user.pk)
    # Personal utilities are private to their members, whoever administers the default account.
    shared = Utility.objects.filter(personal_owner__isnull=True)
    in_senior_accounts = shared.filter(account__account_memberships__user_id=user.pk,
                                       account__account_memberships__role__in=senior)
    in_client_accounts = shared.filter(
        account__consultancy_account__account_memberships__user_id=user.pk,
        account__consultancy_account__account_memberships__role__in=senior,
    )
    return _ids(own, "utility_id").union(_ids(in_senior_accounts, "pk"), _ids(in_client_accounts, "pk"))


def utility_audit_account_id(utility_id):
    """The account whose history records changes inside this utility (none for a personal one)."""
    return (Utility.objects.filter(pk=utility_id, personal_owner__isnull=True)
            .values_list("account_id", flat=True).first())


class UtilityQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """Utilities of the accounts the user sees (the default account's only when they are a
        member: personal utilities are private), and those they are a member of."""
        member_of = Membership.objects.filter(user_id=user.pk)
        # Personal utilities are private to their members, whoever else is in the default account.
        in_visible_account = Utility.objects.filter(account_id__in=visible_account_ids(user),
                                                    personal_owner__isnull=True)
        return self.filter(pk__in=_ids(member_of, "utility_id").union(_ids(in_visible_account, "pk")))


class Utility(models.Model):
    """A billing unit inside an account. Products and charges hang off it."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="utilities")
    name = models.CharField(max_length=200, validators=[single_line])
    billing_day = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(28)], help_text="day of the month billing starts (1..28)"
    )
    subscriber_seats = models.PositiveIntegerField(null=True, blank=True, help_text="empty: unlimited")
    personal_owner = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
                                          on_delete=models.CASCADE, related_name="personal_utility")
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    objects = UtilityQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "utilities"
        constraints = [
            models.UniqueConstraint("account", Lower("name"), name="utility_name_unique_in_account",
                                    condition=models.Q(personal_owner__isnull=True),
                                    violation_error_message="This account already has a utility of that name."),
            models.CheckConstraint(condition=models.Q(billing_day__gte=1, billing_day__lte=28),
                                   name="utility_billing_day_1_28"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        """Its portal page (the admin's "View on site" link)."""
        return reverse("utility_detail", args=[self.pk])

    @property
    def is_personal(self) -> bool:
        return self.personal_owner_id is not None

    def audit_account_id(self):
        # A personal utility's history is not the default account's: it is private (SPEC §3).
        return None if self.is_personal else self.account_id



class MembershipQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """Memberships of utilities the user belongs to, of accounts they administer or consult
        for (directly or through the consultancy)."""
        return self.filter(utility_id__in=membership_utility_ids(user))


class Membership(models.Model):
    """A person in a utility: spectator < member < leader < admin (the association's levels 0..3)."""

    class Role(models.TextChoices):
        SPECTATOR = "spectator"
        MEMBER = "member"
        LEADER = "leader"
        ADMIN = "admin"

    RANK = {Role.SPECTATOR: 0, Role.MEMBER: 1, Role.LEADER: 2, Role.ADMIN: 3}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    utility = models.ForeignKey(Utility, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SPECTATOR)
    is_subscriber = models.BooleanField()
    is_subscriber_datetime = models.DateTimeField(default=timezone.now, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "utility"], name="membership_unique_pair",
                                    violation_error_message="This user is already a member of this utility."),
        ]
        indexes = [
            models.Index(fields=["utility", "is_subscriber"], name="membership_subscribers_idx"),
            # Who is in the utilities a user sees (`User.objects.for_user`), read from the index alone.
            models.Index(fields=["utility", "user"], name="membership_utility_user_idx"),
        ]

    def __str__(self):
        return f"{self.user} in {self.utility} ({self.role})"

    def audit_account_id(self):
        if Membership.utility.is_cached(self) and self.utility.pk == self.utility_id:
            return self.utility.audit_account_id()  # loaded with the row the service locked
        return utility_audit_account_id(self.utility_id)

