"""The staff face for users, roles, contacts, bearer sessions, the audit log, accounts,
account memberships, account roles and activation codes, one module per entity, on the
service-backed admin base (`core.admin`).

Every write goes through `accounts.services` (the staff and superuser flags, which no
service sets, excepted) and is audited with the signed-in admin as actor by
django-auditlog's middleware, since admin requests are session-authenticated.
"""

from accounts.admin.accounts import AccountAdmin, AccountForm
from accounts.admin.activation_codes import ActivationCodeAdmin
from accounts.admin.auditlog import AuditLogEntryAdmin
from accounts.admin.contacts import ContactAdmin
from accounts.admin.memberships import AccountMembershipAdmin, AccountMembershipInline
from accounts.admin.roles import AccountRoleAdmin, RoleAdmin
from accounts.admin.sessions import SessionAdmin
from accounts.admin.users import UserAdmin

__all__ = [
    "AccountAdmin", "AccountForm", "AccountMembershipAdmin", "AccountMembershipInline", "AccountRoleAdmin",
    "ActivationCodeAdmin", "AuditLogEntryAdmin", "ContactAdmin", "RoleAdmin", "SessionAdmin", "UserAdmin",
]
