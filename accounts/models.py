"""People, their sessions, roles and contacts; accounts, account roles and activation
codes; and the audit log entry model."""

import hashlib
import math
import re
import unicodedata

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.contrib.auth.models import AbstractUser, Permission
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, RegexValidator, URLValidator
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Lower
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from core.txid import TransactionIdField
from core.validators import single_line
from core.visibility import VisibleQuerySet
from core.visibility import ids_branch as _ids


class UserQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """Themselves, people they share a space with, their contacts (everyone for holders
        of `accounts.view_user`)."""
        if user.has_perm("accounts.view_user"):
            return self.all()
        # One `pk IN (...)` over a UNION of index lookups, not ORed EXISTS per user row (see
        # `visible_account_ids` for why).
        themselves = User.objects.filter(pk=user.pk).order_by().values("pk")
        contacts = Contact.objects.filter(owner_id=user.pk).order_by().values("contact_id")
        return self.filter(pk__in=themselves.union(contacts, *_sharing_branches(user)))

    def with_email(self, email: str):
        """The user an address names, in whatever spelling it was typed (case, Unicode, IDNA)."""
        return self.filter(email__iexact=normalize_email(email))

    def addable_by(self, actor, permission: str):
        """The people `actor` may add directly to an account or utility (SPEC §1, "People's
        privacy"): active users they already share an account or utility with; any active
        user for holders of `permission` globally (site admins among them). Everyone else is
        invited, never added."""
        active = self.filter(is_active=True)
        if actor.has_perm(permission):
            return active
        first, *rest = _sharing_branches(actor)
        return active.filter(pk__in=first.union(*rest))


def _sharing_branches(user) -> list:
    """`user_id` branches of the people a user shares a space with: the accounts they see (not
    the default account's unless they are in it) and what the apps above add (memberships:
    the utilities whose memberships the user may read)."""
    in_shared_accounts = AccountMembership.objects.filter(account_id__in=visible_account_ids(user))
    return [in_shared_accounts.order_by().values("user_id"),
            *(source(user).order_by().values("user_id") for source in SHARED_PEOPLE)]


#: Callables `(user) -> queryset with a user_id column`: the people a user shares a space with,
#: beyond accounts. Apps above this one append to it in their `AppConfig.ready()`.
SHARED_PEOPLE = []


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    def get_by_natural_key(self, username):
        return self.with_email(username).get()

    def _create_user(self, username, email, password, **extra_fields):
        email = normalize_email(email)
        username = username or unique_username_from_email(email)
        return super()._create_user(username, email, password, **extra_fields)

    def create_user(self, email=None, password=None, username=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(username, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, username=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(username, email, password, **extra_fields)


def normalize_email(email: str) -> str:
    """The one form an address is stored and compared in: trimmed, Unicode NFKC, lower case,
    the domain in its IDNA (ASCII) form, so look-alike spellings of one address are one."""
    email = unicodedata.normalize("NFKC", (email or "").strip()).lower()
    local, at, domain = email.rpartition("@")
    if not at or not domain:
        return email
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return email  # validate_email_address refuses it
    return f"{local}@{domain}"


def _script(char: str) -> str | None:
    """The Unicode script of a letter (LATIN, CYRILLIC, GREEK, ...); None for digits and marks."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return name.split(" ")[0] if name else "UNKNOWN"


def validate_email_address(value: str) -> None:
    """Refuse domains a person could not tell from another: one that is no valid IDNA name,
    or whose labels mix scripts (Latin with Cyrillic look-alikes, say)."""
    domain = unicodedata.normalize("NFKC", (value or "").strip()).rpartition("@")[2].lower()
    if not domain:
        return
    # What is stored is the normalised form: it must be a valid address too (NFKC turns a
    # small or full-width "@" into a real one, and ligatures grow past the column's length).
    normalized = normalize_email(value)
    if len(normalized) > 254 or normalized.count("@") != 1:
        raise ValidationError("Enter a valid email address.", code="invalid")
    EmailValidator(message="Enter a valid email address.")(normalized)
    try:
        unicode_domain = domain.encode("idna").decode("idna")
    except UnicodeError:
        raise ValidationError("This email's domain is not a valid domain name.", code="invalid") from None
    scripts = {script for script in map(_script, unicode_domain) if script}
    if len(scripts) > 1:
        raise ValidationError("This email's domain mixes alphabets; use the address as your provider spells it.",
                              code="invalid")


_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]+")


def unique_username_from_email(email: str, *, exclude_pk=None) -> str:
    """Derive a username from the email's local part, numbered until it is free."""
    base = _USERNAME_UNSAFE.sub("", (email or "").split("@")[0])[:140] or "user"
    taken = User.objects.filter(username__iregex=rf"^{re.escape(base)}[0-9]*$")
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    taken_names = {name.lower() for name in taken.values_list("username", flat=True)}
    if base.lower() not in taken_names:
        return base
    number = 2
    while f"{base}{number}".lower() in taken_names:
        number += 1
    return f"{base}{number}"


class User(AbstractUser):
    """A person. Email is the login; the username is derived from it when not given."""

    class Strategy(models.TextChoices):
        LOCAL = "local", "Local password"
        LDAP = "ldap", "LDAP directory"

    email = models.EmailField("email address", max_length=254, unique=True, validators=[validate_email_address])
    # Proven by a signed link mailed to it (accounts.services.users); invitations reach only
    # verified addresses. A changed address waits in `pending_email` until its link is used.
    email_verified = models.BooleanField(default=False)
    pending_email = models.EmailField(max_length=254, blank=True, default="", editable=False)
    strategy = models.CharField(max_length=8, choices=Strategy.choices, default=Strategy.LOCAL)
    # Who an LDAP user is in the directory: fixed when they became an LDAP user, so no change
    # of their (or anyone's) username can make them bind as somebody else.
    directory_id = models.CharField(max_length=150, blank=True, default="", editable=False)
    roles = models.ManyToManyField("accounts.Role", related_name="users", blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique",
                                    violation_error_message="A user with this email already exists."),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique",
                                    violation_error_message="A user with this username already exists."),
        ]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = normalize_email(self.email)

    @property
    def is_site_admin(self) -> bool:
        return self.is_superuser

    def audit_account_id(self):
        return None


class RoleQuerySet(VisibleQuerySet):
    """Every signed-in user reads every role."""


class Role(models.Model):
    """A named set of Django permissions that users hold through `User.roles`."""

    name = models.CharField(max_length=100, validators=[single_line])
    description = models.TextField(blank=True)
    permissions = models.ManyToManyField(Permission, related_name="roster_roles", blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    objects = RoleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="role_name_ci_unique",
                                               violation_error_message="A role with this name already exists.")]

    def __str__(self):
        return self.name


class ContactQuerySet(VisibleQuerySet):
    site_admins_see_all = False  # an address book is its owner's alone

    def visible_to(self, user):
        return self.filter(owner_id=user.pk)


class Contact(models.Model):
    """An entry in a user's address book."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="contact_entries")
    contact = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "contact"], name="contact_unique_pair"),
            models.CheckConstraint(condition=~Q(owner=models.F("contact")), name="contact_not_self",
                                   violation_error_message="You cannot add yourself as a contact."),
        ]

    def __str__(self):
        return f"{self.owner.email} → {self.contact.email}"

    @property
    def email(self):
        return self.contact.email

    @property
    def username(self):
        return self.contact.username


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionQuerySet(VisibleQuerySet):
    def live(self, now=None):
        now = now or timezone.now()
        return self.filter(expires_at__gt=now, absolute_expires_at__gt=now)

    site_admins_see_all = False  # nobody sees anybody else's sessions
    memoise = False  # `live()` compares with now() while building

    def visible_to(self, user):
        """A user's own live sessions."""
        return self.live().filter(user_id=user.pk)


class Session(models.Model):
    """A bearer-token session. Only the token's SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_sessions")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    absolute_expires_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=512, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "expires_at"], name="session_user_expiry_idx")]

    def __str__(self):
        return f"Session {self.pk} of {self.user_id}"

    def audit_account_id(self):
        return None

    @property
    def is_live(self) -> bool:
        now = timezone.now()
        return self.expires_at > now and self.absolute_expires_at > now


class BrowserSessionQuerySet(VisibleQuerySet):
    site_admins_see_all = False  # nobody sees anybody else's sessions
    memoise = False  # `live()` compares with now() while building

    def live(self):
        """Those whose cookie session still exists (with the database session engine; other
        engines expire theirs out of sight, and a listed one that ended is removed on revoke)."""
        if settings.SESSION_ENGINE not in ("django.contrib.sessions.backends.db",
                                           "django.contrib.sessions.backends.cached_db"):
            return self
        from django.contrib.sessions.models import Session as CookieSession

        live_keys = CookieSession.objects.filter(expire_date__gt=timezone.now()).values("session_key")
        return self.filter(session_key__in=live_keys)

    def visible_to(self, user):
        """A user's own signed-in browsers."""
        return self.live().filter(user_id=user.pk)


class BrowserSession(models.Model):
    """A browser signed in to the portal or the admin (a cookie session), so that its owner
    sees where they are signed in and can end it (the bearer tokens are `Session`)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    session_key = models.CharField(max_length=40, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    user_agent = models.CharField(max_length=512, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = BrowserSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"Browser session {self.pk} of {self.user_id}"

    def audit_account_id(self):
        return None


class Avatar(models.Model):
    """A user's uploaded picture, re-encoded (so no metadata survives)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="avatar")
    image = models.BinaryField(editable=False)
    content_type = models.CharField(max_length=32)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Avatar of {self.user_id}"


class AuditLogEntryManager(LogEntryManager):
    def log_create(self, instance, force_log=False, **kwargs):
        kwargs.setdefault("account_id", _audit_account_id(instance))
        return super().log_create(instance, force_log=force_log, **kwargs)

    def log_m2m_changes(self, changed_queryset, instance, operation, field_name, **kwargs):
        kwargs.setdefault("account_id", _audit_account_id(instance))
        return super().log_m2m_changes(changed_queryset, instance, operation, field_name, **kwargs)


def _audit_account_id(instance):
    if hasattr(instance, "_audit_account_id"):  # remembered before a cascade removed its parents
        return instance._audit_account_id
    getter = getattr(instance, "audit_account_id", None)
    return getter() if callable(getter) else None


@receiver(pre_delete, dispatch_uid="remember_audit_account_id")
def _remember_audit_account_id(sender, instance, **kwargs):
    """Read the account an entry belongs to while everything above the object still exists.

    auditlog writes a deletion after the row is gone (post_delete); in a cascade the utility
    or account it would be read through may be gone by then too."""
    getter = getattr(instance, "audit_account_id", None)
    if callable(getter):
        instance._audit_account_id = getter()


class AuditLogEntry(AbstractLogEntry):
    """django-auditlog's entry plus the id of the account the changed object belongs to.

    `account_id` is a plain indexed integer, not a foreign key, so an account's history
    stays readable after the account itself is deleted.
    """

    account_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # The writing transaction (PostgreSQL), set by the database: event streams read entries
    # in commit order by it (core.txid explains why an id alone is not enough).
    txid = TransactionIdField()

    objects = AuditLogEntryManager()

    class Meta(AbstractLogEntry.Meta):
        indexes = [
            # An account's history, newest first, with every filtered column in the key: the
            # audit-log API's COUNT and its pages' primary keys (jsonapi.pagination.ids_first)
            # are read from this index alone, however deep the page and whichever filter.
            models.Index(fields=["account_id", "-timestamp", "-id", "action", "content_type", "actor"],
                         name="auditlog_account_page_idx"),
            # event streams: entries in commit order, from a cursor (core.txid)
            models.Index(fields=["txid", "id"], name="auditlog_commit_order_idx"),
        ]


# --------------------------------------------------------------------------- accounts


class AccountRoleQuerySet(VisibleQuerySet):
    """Every signed-in user reads account roles."""


class AccountRole(models.Model):
    """A label for accounts (e.g. "Supplier", "Aggregator")."""

    name = models.CharField(max_length=100, validators=[single_line])
    description = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = AccountRoleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="accountrole_name_ci_unique",
                                               violation_error_message="An account role with this name exists.")]

    def __str__(self):
        return self.name


class AccountQuerySet(VisibleQuerySet):
    def visible_to(self, user, include_default=True):
        """Accounts the user sees: their own, their consultancy's clients, the default account.

        A consultant or admin of account C sees every account whose consultancy is C.
        """
        visible = Q(pk__in=visible_account_ids(user))
        if include_default:
            visible |= Q(is_default=True)
        return self.filter(visible)

    def with_counts(self, user=None):
        """memberCount and utilityCount (and any count an app above registers in
        `ACCOUNT_COUNTS`), computed in the same query as the page; with `user`, only the rows
        that user sees are counted where the registered source says so."""
        def count(rows):
            rows = rows.filter(account_id=OuterRef("pk")).order_by().values("account_id")
            counted = rows.annotate(n=models.Count("pk")).values("n")
            return Coalesce(Subquery(counted, output_field=models.IntegerField()), 0)

        counts = {"member_count": count(AccountMembership.objects.all())}
        counts.update({name: count(source(user)) for name, source in ACCOUNT_COUNTS.items()})
        return self.annotate(**counts)


#: name → `(user or None) -> queryset with an account_id column`, counted per account by
#: `AccountQuerySet.with_counts`. Apps above this one add theirs in `AppConfig.ready()`.
ACCOUNT_COUNTS = {}


HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour in the form #rrggbb.")
HTTP_URL = URLValidator(schemes=["http", "https"])
CUSTOM_ATTRIBUTES_MAX_KEYS = 100
CUSTOM_ATTRIBUTE_MAX_LENGTH = 1024


def validate_custom_attributes(value):
    """A flat object of string → string | number | bool: at most 100 keys, 1..1024 characters."""
    if not isinstance(value, dict):
        raise ValidationError("customAttributes must be an object.", code="invalid_attributes")
    if len(value) > CUSTOM_ATTRIBUTES_MAX_KEYS:
        raise ValidationError(f"At most {CUSTOM_ATTRIBUTES_MAX_KEYS} custom attributes.", code="invalid_attributes")
    for key, item in value.items():
        if not 1 <= len(key) <= CUSTOM_ATTRIBUTE_MAX_LENGTH:
            raise ValidationError(f"Custom attribute names are 1 to {CUSTOM_ATTRIBUTE_MAX_LENGTH} characters.",
                                  code="invalid_attribute", params={"key": key})
        if isinstance(item, str):
            if not 1 <= len(item) <= CUSTOM_ATTRIBUTE_MAX_LENGTH:
                raise ValidationError(f"`{key[:50]}`: text values are 1 to {CUSTOM_ATTRIBUTE_MAX_LENGTH} characters.",
                                      code="invalid_attribute", params={"key": key})
        elif isinstance(item, bool) or (isinstance(item, int) and -2**63 <= item < 2**63) or (
                isinstance(item, float) and math.isfinite(item)):
            continue
        else:
            raise ValidationError(f"`{key[:50]}`: values are text, numbers or true/false.",
                                  code="invalid_attribute", params={"key": key})


class Account(models.Model):
    """An organisation (tenant). Utilities, memberships and everything billed live inside one."""

    class ProductPrivacy(models.TextChoices):
        ALWAYS_PRIVATE = "ALWAYS_PRIVATE"
        NEVER_PRIVATE = "NEVER_PRIVATE"
        DEFAULT_PRIVATE = "DEFAULT_PRIVATE"
        DEFAULT_PUBLIC = "DEFAULT_PUBLIC"

    name = models.CharField(max_length=200, validators=[single_line])
    primary_color = models.CharField(max_length=7, null=True, blank=True, validators=[HEX_COLOUR])
    secondary_color = models.CharField(max_length=7, null=True, blank=True, validators=[HEX_COLOUR])
    logo_url = models.URLField(max_length=500, null=True, blank=True, validators=[HTTP_URL])
    health_time_period = models.PositiveIntegerField(default=86400, help_text="seconds")
    exec_interval = models.PositiveIntegerField(default=300, help_text="seconds")
    base_line_exec_interval = models.PositiveIntegerField(default=86400, help_text="seconds")
    cd_model_frequency = models.PositiveIntegerField(default=604800, help_text="seconds")
    cd_execution_frequency = models.PositiveIntegerField(default=600, help_text="seconds")
    data_retention = models.PositiveIntegerField(default=0, help_text="days; 0 keeps data forever")
    custom_attributes = models.JSONField(default=dict, blank=True, validators=[validate_custom_attributes])
    default_product_privacy = models.CharField(max_length=16, choices=ProductPrivacy.choices,
                                               default=ProductPrivacy.DEFAULT_PRIVATE)
    consultancy_account = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                            related_name="client_accounts")
    account_roles = models.ManyToManyField(AccountRole, blank=True, related_name="accounts")
    is_default = models.BooleanField(default=False, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="account_name_ci_unique",
                                    violation_error_message="An account with this name already exists."),
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                    name="account_single_default"),
            models.CheckConstraint(condition=~Q(consultancy_account=models.F("pk")),
                                   name="account_not_own_consultancy",
                                   violation_error_message="An account cannot be its own consultancy."),
        ]
        indexes = [models.Index(fields=["consultancy_account"], name="account_consultancy_idx")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        """Its portal page (the admin's "View on site" link)."""
        return reverse("account_detail", args=[self.pk])

    def clean(self):
        super().clean()
        if self.pk and self.consultancy_account_id == self.pk:
            raise ValidationError({"consultancy_account": "An account cannot be its own consultancy."})

    def audit_account_id(self):
        return self.pk



# --------------------------------------------------------------------------- account memberships


def visible_account_ids(user):
    """Ids of the accounts the user is in (any role) and of the clients of the accounts they
    are an admin or consultant of: `Account.objects.for_user(user, include_default=False)`."""
    own = AccountMembership.objects.filter(user_id=user.pk)
    clients = Account.objects.filter(consultancy_account__account_memberships__user_id=user.pk,
                                     consultancy_account__account_memberships__role__in=AccountMembership.SENIOR_ROLES)
    return _ids(own, "account_id").union(_ids(clients, "pk"))


class AccountMembershipQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """Memberships of the accounts the user sees (not the default account's), and their own."""
        # The user's own account memberships need no branch of their own: their accounts are
        # among the visible ones (the default account too, when they are in it).
        return self.filter(account_id__in=visible_account_ids(user))


class AccountMembership(models.Model):
    """A person's role in an account: user < consultant < admin."""

    class Role(models.TextChoices):
        USER = "user"
        CONSULTANT = "consultant"
        ADMIN = "admin"

    RANK = {Role.USER: 0, Role.CONSULTANT: 1, Role.ADMIN: 2}
    #: roles that read everything in the account and in its consultancy clients
    SENIOR_ROLES = (Role.ADMIN, Role.CONSULTANT)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_memberships")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="account_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = AccountMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        db_table = "memberships_accountmembership"  # its table since before it moved here
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="accountmembership_unique_pair",
                                    violation_error_message="This user is already a member of this account."),
        ]
        indexes = [models.Index(fields=["account", "role"], name="accountmembership_role_idx")]

    def __str__(self):
        return f"{self.user} in {self.account} ({self.role})"

    def audit_account_id(self):
        return self.account_id



ACTIVATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"  # no 0 O 1 I l
ACTIVATION_CODE_LENGTH = 8


class ActivationCode(models.Model):
    """An account's current activation code; a refresh replaces it, so the old one dies at once."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True,
                                   related_name="activation_code")
    code = models.CharField(max_length=ACTIVATION_CODE_LENGTH, unique=True)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self):
        return f"Activation code of {self.account_id}"

    def audit_account_id(self):
        return self.account_id

    @property
    def is_valid(self) -> bool:
        return self.expires_at > timezone.now()


# --------------------------------------------------------------------------- invitations


class InvitationQuerySet(VisibleQuerySet):
    memoise = False  # the caller's verified email is read while building

    def visible_to(self, user):
        """Invitations the user sent, those into accounts they administer and utilities they
        administer (`MANAGED_UTILITY_IDS`), and those addressed to their verified email."""
        admin_of = AccountMembership.objects.filter(user_id=user.pk, role=AccountMembership.Role.ADMIN)
        visible = (Q(invited_by_id=user.pk) | Q(account_id__in=admin_of.values("account_id"))
                   | Q(utility__account_id__in=admin_of.values("account_id")))
        for source in MANAGED_UTILITY_IDS:
            visible |= Q(utility_id__in=source(user))
        if user.email_verified:
            visible |= Q(email=user.email)
        return self.filter(visible)

    def pending(self):
        """Those still open to an answer: pending and not yet expired."""
        return self.filter(status=Invitation.Status.PENDING, expires_at__gt=timezone.now())


#: Callables `(user) -> queryset of utility ids` the user administers through a utility role;
#: the memberships app adds its own in `AppConfig.ready()`.
MANAGED_UTILITY_IDS = []


class Invitation(models.Model):
    """An offer to join an account or a utility, mailed to an address (SPEC §3 Invitations):
    how an admin adds someone they do not already share a space with."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        REVOKED = "revoked"
        EXPIRED = "expired"

    email = models.EmailField(max_length=254, validators=[validate_email_address])
    role = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations")
    utility = models.ForeignKey("memberships.Utility", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="invitations")
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="sent_invitations")
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(account__isnull=False, utility__isnull=True)
                                   | Q(account__isnull=True, utility__isnull=False),
                                   name="invitation_one_target",
                                   violation_error_message="An invitation is to an account or a utility."),
        ]
        indexes = [models.Index(fields=["email", "status"], name="invitation_email_idx")]

    def __str__(self):
        return f"Invitation of {self.email} to {self.target}"

    @property
    def target(self):
        return self.account if self.account_id else self.utility

    @property
    def current_status(self) -> str:
        """The status as of now: a pending invitation past its expiry is expired."""
        if self.status == self.Status.PENDING and self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.status

    def audit_account_id(self):
        return self.account_id if self.account_id else self.utility.audit_account_id()
