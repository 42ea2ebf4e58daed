"""The staff face for the audit log (read-only)."""

from auditlog.admin import LogEntryAdmin
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditLogEntry

# django-auditlog registers its LogEntryAdmin for whatever AUDITLOG_LOGENTRY_MODEL names,
# which here is our AuditLogEntry; replace it with a subclass that filters and searches
# the way staff look for changes.
if admin.site.is_registered(AuditLogEntry):
    admin.site.unregister(AuditLogEntry)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(LogEntryAdmin):
    """The audit log, read-only: no add, change or delete here."""

    list_filter = (
        "action",
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("object_repr", "actor__email", "actor_email")
    fieldsets = [
        (None, {"fields": ["created", "user_url", "resource_url", "account_id", "remote_addr", "cid"]}),
        (_("Changes"), {"fields": ["action", "msg"]}),
    ]
    readonly_fields = ["created", "resource_url", "action", "user_url", "msg", "account_id", "remote_addr", "cid"]
