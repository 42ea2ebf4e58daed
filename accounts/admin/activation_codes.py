"""The staff face for activation codes: when each account's code was issued and until when
it works, never the code itself."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import services
from accounts.models import ActivationCode
from core.admin import ServiceModelAdmin


class ActivationCodeStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("valid", _("Valid")), ("expired", _("Expired")))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "valid":
            return queryset.filter(expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(ActivationCode)
class ActivationCodeAdmin(ServiceModelAdmin):
    """When each account's code was issued and until when it works. The code itself is a
    secret for the account's admins (the API and the portal), so it is never shown here;
    deleting one retires it, and the account's admins get a fresh one when they next ask."""

    fields = ("account", "issued_at", "expires_at", "is_valid")
    readonly_fields = fields
    list_display = ("account", "issued_at", "expires_at", "is_valid")
    list_filter = (ActivationCodeStatusFilter,)
    list_select_related = ("account",)
    # By account only: searching by code would tell whoever tries whether a code exists.
    search_fields = ("account__name",)
    date_hierarchy = "issued_at"
    ordering = ("-issued_at",)
    actions = ("refresh_activation_codes",)

    @admin.display(description=_("valid"), boolean=True)
    def is_valid(self, obj):
        return obj.is_valid

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete(self, request, obj):
        # No service retires a code: nothing depends on the row, and `activation_code_current`
        # issues a fresh one when the account's admins next ask.
        obj.delete()

    def has_refresh_activation_code_permission(self, request):
        return request.user.has_perm("accounts.change_activationcode")

    @admin.action(description=_("Refresh selected activation codes"), permissions=["refresh_activation_code"])
    def refresh_activation_codes(self, request, queryset):
        accounts = [code.account for code in queryset]
        for account in accounts:
            services.activation_code_refresh(actor=request.user, account=account)
        self.message_user(request, ngettext(
            "Issued %(count)d new activation code; the old one stopped working.",
            "Issued %(count)d new activation codes; the old ones stopped working.",
            len(accounts),
        ) % {"count": len(accounts)}, messages.SUCCESS)
