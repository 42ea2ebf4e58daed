"""The staff face for accounts: their settings, members, history and object permissions.

Other apps add their own inlines to the account page (`AccountAdmin.inlines`): the
utilities are listed there by `memberships.admin`, since accounts knows no utility.
"""

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.db import models
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import services
from accounts.admin.memberships import AccountMembershipInline
from accounts.models import Account, AccountRole, AuditLogEntry
from accounts.rules import is_site_admin
from core.admin import ServiceModelAdmin, SiteAdminObjectPermissions, UniqueNameForm, Writes


class AccountForm(UniqueNameForm):
    name_taken_message = _("An account with this name already exists.")


@admin.register(Account)
class AccountAdmin(SiteAdminObjectPermissions, ServiceModelAdmin):
    """Accounts, their members, their history (the account and everything in it) and
    guardian's object permissions. Every write goes through the services."""

    form = AccountForm
    fieldsets = (
        (None, {"fields": ("name", "consultancy_account", "account_roles", "is_default", "created", "updated")}),
        (_("Branding"), {"fields": ("primary_color", "secondary_color", "logo_url")}),
        (_("Schedules"), {"fields": ("health_time_period", "exec_interval", "base_line_exec_interval",
                                     "cd_model_frequency", "cd_execution_frequency", "data_retention")}),
        (_("Products and custom attributes"), {"fields": ("default_product_privacy", "custom_attributes")}),
    )
    readonly_fields = ("is_default", "created", "updated")
    list_display = ("name", "consultancy_account", "member_count", "utility_count", "created", "is_default")
    list_select_related = ("consultancy_account",)
    list_filter = ("account_roles", ("consultancy_account", admin.RelatedOnlyFieldListFilter), "is_default")
    search_fields = ("name",)
    ordering = ("name",)
    autocomplete_fields = ("consultancy_account",)
    filter_horizontal = ("account_roles",)
    # Inlines with `on_default_account = False` are left off the default account's page.
    inlines = (AccountMembershipInline,)
    actions = ("refresh_activation_codes",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    writes = Writes(services, "account", fields=(*services.ACCOUNT_FIELDS, *services.SITE_ADMIN_ACCOUNT_FIELDS))
    account_history_template = "admin/accounts/account/history.html"
    account_history_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    @admin.display(description=_("utilities"), ordering="utility_count")
    def utility_count(self, obj):
        return obj.utility_count

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not is_site_admin(request.user):
            # The services refuse these from anybody but a site admin (on add, too).
            readonly += [f for f in services.SITE_ADMIN_ACCOUNT_FIELDS if f not in readonly]
        return readonly

    def get_inlines(self, request, obj):
        # The creator becomes the new account's admin; members are added once it exists.
        if obj is None:
            return ()
        if obj.is_default:
            return tuple(inline for inline in self.inlines if getattr(inline, "on_default_account", True))
        return self.inlines

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_default:
            return False  # It holds everyone's personal utilities.
        return super().has_delete_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "account_roles":
            kwargs["queryset"] = AccountRole.objects.order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # ------------------------------------------------------------------- writes

    def create(self, request, form):
        data = form.cleaned_data
        values = {name: data[name] for name in services.ACCOUNT_FIELDS if name in data}
        if "consultancy_account" in data:
            values["consultancy_account"] = data["consultancy_account"]
        if "account_roles" in data:
            values["account_roles"] = list(data["account_roles"])
        return services.account_create(actor=request.user, data=values)

    def response_add(self, request, obj, post_url_continue=None):
        # Go on to the new account's page, where its members are added (as UserAdmin does).
        if "_addanother" not in request.POST and IS_POPUP_VAR not in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = 1
        return super().response_add(request, obj, post_url_continue)

    # ------------------------------------------------------------------- actions

    def has_refresh_activation_code_permission(self, request):
        return request.user.has_perm("accounts.change_activationcode")

    @admin.action(description=_("Refresh activation codes"), permissions=["refresh_activation_code"])
    def refresh_activation_codes(self, request, queryset):
        count = 0
        for account in queryset:
            services.activation_code_refresh(actor=request.user, account=account)
            count += 1
        self.message_user(request, ngettext(
            "Issued a new activation code for %(count)d account; its old code stopped working.",
            "Issued new activation codes for %(count)d accounts; their old codes stopped working.",
            count,
        ) % {"count": count}, messages.SUCCESS)

    # ------------------------------------------------------------------- history

    def history_view(self, request, object_id, extra_context=None):
        """Every change to the account and to everything in it, also of objects since deleted."""
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, account):
            raise PermissionDenied
        entries = (
            AuditLogEntry.objects.filter(account_id=account.pk)
            .select_related("actor", "content_type")
            .order_by("-timestamp", "-id")
        )
        paginator = self.get_paginator(request, entries, self.account_history_per_page)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        context = {
            **self.admin_site.each_context(request),
            "title": _("History of %(account)s and everything in it") % {"account": account},
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "page_range": paginator.get_elided_page_range(page.number),
            "page_var": PAGE_VAR,
            "pagination_required": paginator.count > self.account_history_per_page,
            "object": account,
            "opts": self.opts,
            "log_entries": page,
            "audit_log_url": f"{reverse('admin:accounts_auditlogentry_changelist')}?"
                             f"{urlencode({'account_id': account.pk})}",
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.account_history_template, context)
