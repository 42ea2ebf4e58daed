"""People, their bearer sessions, roles and contacts, and the audit log entry model."""

import hashlib
import re

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.contrib.auth.models import AbstractUser, Permission
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.utils import timezone


class UserQuerySet(models.QuerySet):
    def for_user(self, user):
        """Users the given user may see: themselves, people they share a space with, their contacts."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser or user.has_perm("accounts.view_user"):
            return self.all()
        contacts = Contact.objects.filter(owner_id=user.pk, contact_id=OuterRef("pk"))
        return self.filter(Q(pk=user.pk) | Exists(contacts))


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)

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
    return (email or "").strip().lower()


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

    email = models.EmailField("email address", max_length=254, unique=True)
    strategy = models.CharField(max_length=8, choices=Strategy.choices, default=Strategy.LOCAL)
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


class RoleQuerySet(models.QuerySet):
    def for_user(self, user):
        """Every signed-in user reads every role."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.all()


class Role(models.Model):
    """A named set of Django permissions that users hold through `User.roles`."""

    name = models.CharField(max_length=100)
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


class ContactQuerySet(models.QuerySet):
    def for_user(self, user):
        if user is None or not user.is_authenticated:
            return self.none()
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


class SessionQuerySet(models.QuerySet):
    def live(self, now=None):
        now = now or timezone.now()
        return self.filter(expires_at__gt=now, absolute_expires_at__gt=now)

    def for_user(self, user):
        """A user's own live sessions; nobody sees anybody else's, site admins included."""
        if user is None or not user.is_authenticated:
            return self.none()
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
    getter = getattr(instance, "audit_account_id", None)
    return getter() if callable(getter) else None


class AuditLogEntry(AbstractLogEntry):
    """django-auditlog's entry plus the id of the account the changed object belongs to.

    `account_id` is a plain indexed integer, not a foreign key, so an account's history
    stays readable after the account itself is deleted.
    """

    account_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = AuditLogEntryManager()

    class Meta(AbstractLogEntry.Meta):
        indexes = [
            models.Index(fields=["account_id", "-timestamp", "-id"], name="auditlog_account_time_idx"),
        ]
