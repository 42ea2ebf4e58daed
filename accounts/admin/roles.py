"""The staff face for roles (named sets of global permissions people hold) and account roles
(the kinds of account, such as supplier)."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import AccountRole, Role
from accounts.rules import is_site_admin
from core.admin import ServiceModelAdmin, UniqueNameForm, Writes


@admin.register(Role)
class RoleAdmin(ServiceModelAdmin):
    fields = ("name", "description", "permissions")
    list_display = ("name", "description", "user_count", "updated")
    search_fields = ("name",)
    ordering = ("name",)
    filter_horizontal = ("permissions",)
    writes = Writes(services, "role", fields=("name", "description", "permissions"))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_count=Count("users"))

    @admin.display(description=_("users"), ordering="user_count")
    def user_count(self, obj):
        return obj.user_count

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "permissions":
            # Resolving each permission's name otherwise loads its content type one by one.
            kwargs["queryset"] = db_field.remote_field.model.objects.select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class AccountRoleForm(UniqueNameForm):
    name_taken_message = _("An account role with this name already exists.")


@admin.register(AccountRole)
class AccountRoleAdmin(ServiceModelAdmin):
    form = AccountRoleForm
    fields = ("name", "description")
    list_display = ("name", "description", "account_count")
    search_fields = ("name",)
    ordering = ("name",)
    writes = Writes(services, "account_role", fields=("name", "description"), keyword="role")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(account_count=Count("accounts"))

    @admin.display(description=_("accounts"), ordering="account_count")
    def account_count(self, obj):
        return obj.account_count

    # Account roles are written by site admins only (SPEC), whatever model permissions staff
    # hold; no role rule gives anyone else a say.
    def has_add_permission(self, request):
        return is_site_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_site_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_site_admin(request.user)
