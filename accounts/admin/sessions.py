"""The staff face for bearer sessions: read-only; deleting one revokes its token."""

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import Session
from core.admin import ServiceModelAdmin


class SessionStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("live", _("Live")), ("expired", _("Expired")))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.live(now)
        if self.value() == "expired":
            return queryset.filter(Q(expires_at__lte=now) | Q(absolute_expires_at__lte=now))
        return queryset


@admin.register(Session)
class SessionAdmin(ServiceModelAdmin):
    """Bearer sessions, read-only; deleting one revokes its token. The token hash is never shown."""

    fields = ("user", "created", "expires_at", "absolute_expires_at", "last_seen_at", "ip_address",
              "user_agent")
    readonly_fields = fields
    list_display = ("user", "created", "expires_at", "absolute_expires_at", "last_seen_at", "ip_address",
                    "user_agent", "is_live")
    list_filter = (SessionStatusFilter,)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    date_hierarchy = "created"
    ordering = ("-created", "-id")

    @admin.display(description=_("live"), boolean=True)
    def is_live(self, obj):
        return obj.is_live

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete(self, request, obj):
        services.session_delete(session=obj)
