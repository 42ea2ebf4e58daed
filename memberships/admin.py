"""The staff face for account memberships. Writes go through `memberships.services`, so the
last-admin rule and "only site admins demote or remove another admin" hold here as well."""

from django.contrib import admin
from django.db import transaction

from accounts.admin import AuditHistory, ServiceErrorsAsMessages, adopt
from memberships import services
from memberships.models import AccountMembership


@admin.register(AccountMembership)
class AccountMembershipAdmin(ServiceErrorsAsMessages, AuditHistory, admin.ModelAdmin):
    list_display = ("user", "account", "role", "created")
    list_select_related = ("user", "account")
    list_filter = ("role", ("account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__email", "account__name")
    autocomplete_fields = ("user", "account")
    date_hierarchy = "created"
    ordering = ("-created", "-id")

    def get_fields(self, request, obj=None):
        return ("user", "account", "role", "created") if obj is not None else ("user", "account", "role")

    def get_readonly_fields(self, request, obj=None):
        # User and account are fixed once the membership exists; only the role changes.
        return ("user", "account", "created") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if not change:
            adopt(obj, services.account_membership_create(actor=request.user, user=obj.user, account=obj.account,
                                                          role=obj.role))
        elif "role" in form.changed_data:
            services.account_membership_update(actor=request.user, membership=obj, role=obj.role)

    def delete_model(self, request, obj):
        services.account_membership_delete(actor=request.user, membership=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for membership in queryset:
            services.account_membership_delete(actor=request.user, membership=membership)
