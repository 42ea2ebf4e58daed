"""The staff face for account memberships: who belongs to which account, in which role.

Writes go through the account membership services, so the last-admin rule and "only site
admins demote or remove another admin" hold here as they do in the API; a refusal is an
error message and changes nothing.
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import AccountMembership
from core.admin import ServiceInline, ServiceModelAdmin, Writes

MEMBERSHIP_WRITES = Writes(services, "account_membership", fields=("user", "account", "role"), keyword="membership")


def update_role(request, membership) -> None:
    services.account_membership_update(actor=request.user, membership=membership, role=membership.role)


class AccountMembershipInlineForm(forms.ModelForm):
    class Meta:
        model = AccountMembership
        fields = ("user", "role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "user" in self.fields:
            # A membership's user is fixed: show who it is (loaded with the row, so no
            # query per member) instead of an autocomplete box that cannot be changed.
            self.fields["user"].disabled = True
            self.fields["user"].widget = forms.Select(choices=[(self.instance.user_id, str(self.instance.user))])


class AccountMembershipInline(ServiceInline, admin.TabularInline):
    """An account's members, written through the account membership services."""

    model = AccountMembership
    form = AccountMembershipInlineForm
    fields = ("user", "role", "created")
    readonly_fields = ("created",)
    autocomplete_fields = ("user",)
    extra = 0
    show_change_link = True
    verbose_name = _("member")
    verbose_name_plural = _("members")
    writes = MEMBERSHIP_WRITES
    # Additions first, promotions before demotions, removals last: so one save can hand the
    # admin role to someone else.
    write_order = ("create", "update", "delete")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "account")

    def order_updates(self, changed):
        return sorted(changed, key=lambda pair: -AccountMembership.RANK[pair[0].role])

    def update(self, request, obj, fields):
        if "role" in fields:
            update_role(request, obj)


@admin.register(AccountMembership)
class AccountMembershipAdmin(ServiceModelAdmin):
    list_display = ("user", "account", "role", "created")
    list_select_related = ("user", "account")
    list_filter = ("role", ("account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__email", "account__name")
    autocomplete_fields = ("user", "account")
    date_hierarchy = "created"
    ordering = ("-created", "-id")
    writes = MEMBERSHIP_WRITES

    def get_fields(self, request, obj=None):
        return ("user", "account", "role", "created") if obj is not None else ("user", "account", "role")

    def get_readonly_fields(self, request, obj=None):
        # User and account are fixed once the membership exists; only the role changes.
        return ("user", "account", "created") if obj is not None else ()

    def update(self, request, obj, form):
        if "role" in form.changed_data:
            update_role(request, obj)
