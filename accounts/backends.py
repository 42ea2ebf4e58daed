"""Authentication backend: email or username, local passwords or an LDAP bind; role permissions."""

import logging

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessFailureLog
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_login_failed
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Concat
from django.utils import timezone

from accounts.models import Role, User
from core.db import JSONGroupArray, read_json_array
from core.rules import object_grants_exist, remember_object_grants

log = logging.getLogger(__name__)


def axes_username(request, credentials):
    """What django-axes counts failures against: the person, however they name themselves.

    Signing in by email and by username must share one counter, so a known user is keyed
    by their email; an unknown identifier is keyed by itself.
    """
    credentials = credentials or {}
    identifier = str(credentials.get("username") or credentials.get("email") or "").strip()
    user = find_login_user(identifier)
    return user.email if user is not None else identifier.lower()


def ldap_configured() -> bool:
    return bool(settings.ROSTER_LDAP_SERVER_URI)


def find_login_user(identifier: str):
    """The user an email or username names, or None."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    if "@" in identifier:
        return User.objects.with_email(identifier).first()
    return User.objects.filter(username__iexact=identifier).first()


def ldap_bind(user, password) -> bool:
    """Check a password by binding to the configured directory as the user."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    # `%(username)s` in the template names the directory identifier fixed when the user became
    # an LDAP user, never the username as it is now (people and staff can change that).
    dn = settings.ROSTER_LDAP_USER_DN_TEMPLATE % {"username": ldap3.utils.dn.escape_rdn(user.directory_id),
                                                  "email": ldap3.utils.dn.escape_rdn(user.email)}
    try:
        server = ldap3.Server(settings.ROSTER_LDAP_SERVER_URI, connect_timeout=settings.ROSTER_LDAP_TIMEOUT)
        connection = ldap3.Connection(server, user=dn, password=password, receive_timeout=settings.ROSTER_LDAP_TIMEOUT)
        ok = connection.bind()
        connection.unbind()
        return bool(ok)
    except LDAPException:
        log.warning("LDAP bind for %s failed", user.pk, exc_info=True)
        return False


def sign_in_allowed(request, credentials) -> bool:
    """May these credentials be tried from this request? No while django-axes holds the
    person and address locked (AXES_FAILURE_LIMIT failures of that pair), nor while the
    person is locked whatever the address: ROSTER_USERNAME_FAILURE_LIMIT failures within
    ROSTER_USERNAME_FAILURE_WINDOW lock them for AXES_COOLOFF_TIME from the last one."""
    if not settings.AXES_ENABLED:
        return True
    AxesProxyHandler.update_request(request)
    return AxesProxyHandler.is_allowed(request, credentials) and not username_locked_out(request, credentials)


def username_locked_out(request, credentials) -> bool:
    now = timezone.now()
    failures = AccessFailureLog.objects.filter(
        username=axes_username(request, credentials),
        attempt_time__gte=now - settings.ROSTER_USERNAME_FAILURE_WINDOW,
    ).aggregate(count=Count("pk"), last=Max("attempt_time"))
    return failures["count"] >= settings.ROSTER_USERNAME_FAILURE_LIMIT and (
        failures["last"] > now - settings.AXES_COOLOFF_TIME)


def record_failed_sign_in(request, credentials) -> None:
    """Count a failed password check (a wrong `currentPassword` too) as django-axes counts a
    failed sign-in: towards the person's and the pair's lockout."""
    user_login_failed.send(sender=__name__, credentials=credentials, request=request)


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' guard, first of the backends, with the per-person limit added: a locked
    sign-in stops before any password is checked (the portal's lockout page answers)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        super().authenticate(request, username=username, password=password, **kwargs)
        if request is not None and settings.AXES_ENABLED:
            credentials = {"username": username or kwargs.get("email")}
            if username_locked_out(request, credentials):
                request.axes_locked_out = True
                raise AxesBackendPermissionDenied("The person is locked out.")


class RosterBackend(ModelBackend):
    """Log in by email or username; LDAP users bind to the directory; Roles grant permissions."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        if password is None or not (username or email):
            return None
        user = find_login_user(email or username)
        if user is None:
            User().set_password(password)  # same cost as a real check: no timing oracle
            return None
        if not self.user_can_authenticate(user):
            User().set_password(password)  # inactive users take as long as everyone else
            return None
        if user.strategy == User.Strategy.LDAP:
            if not (ldap_configured() and user.directory_id):
                User().set_password(password)  # a refusal takes as long as a password check
                return None
            return user if password and ldap_bind(user, password) else None
        return user if user.check_password(password) else None

    def get_user(self, user_id):
        """The signed-in user of a portal session, with whether they hold any object grant
        read in the same query (the role rules ask it on every refusal)."""
        user = User._default_manager.annotate(_object_grants=object_grants_exist("pk")).filter(pk=user_id).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        remember_object_grants(user, user._object_grants)
        return user

    def _get_group_permissions(self, user_obj):
        return Permission.objects.filter(_through_groups_or_roles(user_obj)).distinct()


def _through_groups_or_roles(user):
    return Q(group__user=user) | Q(roster_roles__users=user)


def held_permission_names(user_ref):
    """A subquery: every `app_label.codename` the user `user_ref` (an OuterRef) holds
    globally (directly, through groups, through Roles), as one array; see
    `remember_permissions`. Each path is its own EXISTS per permission row: ORing the three
    many-valued joins would multiply every permission by everyone who holds it."""
    outer_user = OuterRef(user_ref)
    direct = User.user_permissions.through.objects.filter(permission_id=OuterRef("pk"), user_id=outer_user)
    via_group = Group.permissions.through.objects.filter(permission_id=OuterRef("pk"), group__user=outer_user)
    via_role = Role.permissions.through.objects.filter(permission_id=OuterRef("pk"), role__users=outer_user)
    held = Permission.objects.filter(Exists(direct) | Exists(via_group) | Exists(via_role)).order_by()
    names = held.annotate(_all=Value(1)).values("_all").annotate(
        names=JSONGroupArray(Concat("content_type__app_label", Value("."), "codename"))).values("names")
    return Subquery(names[:1])


def remember_permissions(user, names):
    """Prime ModelBackend's per-request cache with what `held_permission_names` read, so
    `user.has_perm()` asks no query (superusers hold everything and never ask)."""
    if user.is_active and not user.is_superuser:
        user._perm_cache = set(read_json_array(names))
