"""The staff face for account memberships, utilities and utility memberships.

Writes go through `memberships.services`, so the last-admin rule, "only site admins demote or
remove another admin", subscriber seats and the audit log hold here as they do in the API.
Forms check what the services check, to show errors in place; the services stay the judge
(`ServiceErrorsAsMessages` turns a refusal that slipped past the form into a message and
rolls the whole save back).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin import AuditHistory, ServiceErrorsAsMessages, adopt, seats_taken, subscriber_count
from core.errors import ServiceError
from accounts import services as account_services
from memberships import services
from accounts.models import AccountMembership
from memberships.models import Membership, Utility
from memberships.rules import is_utility_admin
from accounts.rules import is_account_admin

UtilityRole = Membership.Role
# What the membership services change once a membership exists (user and utility are fixed).
MEMBERSHIP_FIELDS = ("role", "is_subscriber")
UTILITY_FIELDS = ("name", "billing_day", "subscriber_seats")
# How many refused rows a bulk action names before summing up the rest.
REFUSALS_SHOWN = 10


def _error_text(exc) -> str:
    return exc.detail if isinstance(exc, ServiceError) else " ".join(exc.messages)


def seat_limit_message(seats: int) -> str:
    return _("All %(seats)d subscriber seats of this utility are taken.") % {"seats": seats}


# --------------------------------------------------------------------------- account memberships


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
            adopt(obj, account_services.account_membership_create(actor=request.user, user=obj.user, account=obj.account,
                                                          role=obj.role))
        elif "role" in form.changed_data:
            account_services.account_membership_update(actor=request.user, membership=obj, role=obj.role)

    def delete_model(self, request, obj):
        account_services.account_membership_delete(actor=request.user, membership=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for membership in queryset:
            account_services.account_membership_delete(actor=request.user, membership=membership)


# --------------------------------------------------------------------------- utilities


def member_count():
    rows = Membership.objects.filter(utility_id=OuterRef("pk")).order_by().values("utility_id")
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0)


class PersonalFilter(admin.SimpleListFilter):
    title = _("personal")
    parameter_name = "personal"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")), ("no", _("No")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(personal_owner__isnull=False)
        if self.value() == "no":
            return queryset.filter(personal_owner__isnull=True)
        return queryset


class MemberRoleFilter(admin.SimpleListFilter):
    """Utilities with at least one member of the chosen role (one EXISTS, no duplicate rows)."""

    title = _("has members with role")
    parameter_name = "member_role"

    def lookups(self, request, model_admin):
        return UtilityRole.choices

    def queryset(self, request, queryset):
        if self.value() in UtilityRole.values:
            members = Membership.objects.filter(utility_id=OuterRef("pk"), role=self.value())
            return queryset.filter(Exists(members))
        return queryset


class UtilityForm(forms.ModelForm):
    class Meta:
        model = Utility
        fields = ("account", "name", "billing_day", "subscriber_seats")

    def clean(self):
        cleaned = super().clean()
        # The account is read-only once the utility exists, so the database constraint on
        # (account, name) is not checked by the form; name the field here instead.
        account = cleaned.get("account") or (self.instance.account if self.instance.account_id else None)
        name = cleaned.get("name")
        if account is not None and name:
            taken = Utility.objects.filter(account=account, name__iexact=name).exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("name", _("This account already has a utility of that name."))
        return cleaned


class MembershipInlineForm(forms.ModelForm):
    # Set per request by MembershipInline.get_formset: only the utility's admins change roles.
    role_locked = False

    class Meta:
        model = Membership
        fields = ("user", "role", "is_subscriber")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            if "user" in self.fields:
                # A membership's user is fixed: show who it is (loaded with the row, so no query
                # per member) instead of an autocomplete box that cannot be changed.
                self.fields["user"].disabled = True
                self.fields["user"].widget = forms.Select(choices=[(self.instance.user_id, str(self.instance.user))])
            if self.role_locked and "role" in self.fields:
                self.fields["role"].disabled = True


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        """Refuse, in place, a save that would leave more subscribers than seats.

        Counts the subscribers this save leaves: the rows on the page as posted, plus any
        subscriber added since the page was loaded. The seats are the ones posted with the
        utility (UtilityAdmin applies a raised limit before the members and a lowered one after).
        """
        super().clean()
        seats = self.instance.subscriber_seats
        if seats is None or any(self.errors):
            return
        subscribers, on_page = 0, []
        for form in self.forms:
            if form.instance.pk is not None:
                on_page.append(form.instance.pk)
            elif not form.has_changed():
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            if form.cleaned_data.get("is_subscriber"):
                subscribers += 1
        if self.instance.pk is not None:
            subscribers += (
                Membership.objects.filter(utility_id=self.instance.pk, is_subscriber=True)
                .exclude(pk__in=on_page).count()
            )
        if subscribers > seats:
            raise ValidationError(
                _("This save would leave %(count)d subscribers, but the utility has %(seats)d subscriber seats. "
                  "Remove subscriptions or raise the limit.") % {"count": subscribers, "seats": seats},
                code="seat_limit_reached",
            )


class MembershipInline(admin.TabularInline):
    """A utility's memberships. Saves go through the membership services (UtilityAdmin.save_formset)."""

    model = Membership
    form = MembershipInlineForm
    formset = MembershipInlineFormSet
    fields = ("user", "role", "is_subscriber", "is_subscriber_datetime")
    readonly_fields = ("is_subscriber_datetime",)
    autocomplete_fields = ("user",)
    extra = 0
    show_change_link = True
    verbose_name = _("membership")
    verbose_name_plural = _("memberships")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "utility").order_by("id")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type(formset.form.__name__, (formset.form,), {
            "role_locked": obj is not None and not is_utility_admin(request.user, obj),
        })
        return formset


@admin.register(Utility)
class UtilityAdmin(ServiceErrorsAsMessages, AuditHistory, admin.ModelAdmin):
    """Utilities with their memberships. Every write goes through the services."""

    form = UtilityForm
    list_display = ("name", "account", "billing_day", "seats", "members", "is_personal")
    list_select_related = ("account",)
    list_filter = (("account", admin.RelatedOnlyFieldListFilter), PersonalFilter, MemberRoleFilter)
    search_fields = ("name", "account__name", "memberships__user__email")
    autocomplete_fields = ("account",)
    ordering = ("account__name", "name", "id")
    inlines = (MembershipInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(subscriber_count=subscriber_count(),
                                                      member_count=member_count())

    @admin.display(description=_("subscribers / seats"), ordering="subscriber_count")
    def seats(self, obj):
        return seats_taken(obj)

    @admin.display(description=_("members"), ordering="member_count")
    def members(self, obj):
        return obj.member_count

    @admin.display(description=_("personal"), boolean=True, ordering="personal_owner")
    def is_personal(self, obj):
        return obj.is_personal

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("account", "name", "billing_day", "subscriber_seats")
        return ("account", "name", "billing_day", "subscriber_seats", "personal_owner", "created", "updated")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = ["account", "personal_owner", "created", "updated"]
        if not is_account_admin(request.user, obj.account):
            readonly.append("billing_day")  # the service refuses it from anybody else
        return readonly

    # ------------------------------------------------------------------- writes

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            adopt(obj, services.utility_create(
                actor=request.user, account=data["account"], name=data["name"], billing_day=data["billing_day"],
                subscriber_seats=data.get("subscriber_seats"),
            ))
            return
        changes = {name: data[name] for name in UTILITY_FIELDS if name in form.changed_data}
        seats, before = changes.get("subscriber_seats"), form.initial.get("subscriber_seats")
        if "subscriber_seats" in changes and seats is not None and (before is None or seats < before):
            # A lower limit is applied after the memberships are saved, so one save can free
            # seats and lower the limit to what is left.
            form.deferred_changes = {"subscriber_seats": changes.pop("subscriber_seats")}
        if changes:
            services.utility_update(actor=request.user, utility=obj, data=changes)
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        deferred = getattr(form, "deferred_changes", None)
        if deferred:
            services.utility_update(actor=request.user, utility=form.instance, data=deferred)
            form.instance.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        utility = form.instance
        # Seats freed before seats taken, so one save can hand a seat from one member to another.
        for membership in formset.deleted_objects:
            services.membership_delete(actor=request.user, membership=membership)
        changed = [(membership, fields) for membership, fields in formset.changed_objects]
        changed.sort(key=lambda pair: pair[0].is_subscriber)
        for membership, fields in changed:
            data = {name: getattr(membership, name) for name in fields if name in MEMBERSHIP_FIELDS}
            if data:
                adopt(membership, services.membership_update(actor=request.user, membership=membership, data=data))
        for membership in formset.new_objects:
            adopt(membership, services.membership_create(
                actor=request.user, user=membership.user, utility=utility, is_subscriber=membership.is_subscriber,
                role=membership.role,
            ))

    def delete_model(self, request, obj):
        services.utility_delete(actor=request.user, utility=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for utility in queryset.order_by("pk"):
            services.utility_delete(actor=request.user, utility=utility)


# --------------------------------------------------------------------------- memberships


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "utility", "role", "is_subscriber")

    def clean(self):
        cleaned = super().clean()
        utility = cleaned.get("utility") or (self.instance.utility if self.instance.utility_id else None)
        becomes_subscriber = cleaned.get("is_subscriber") and (
            self.instance.pk is None or "is_subscriber" in self.changed_data
        )
        if becomes_subscriber and utility is not None and utility.subscriber_seats is not None:
            taken = Membership.objects.filter(utility=utility, is_subscriber=True).exclude(pk=self.instance.pk)
            if taken.count() >= utility.subscriber_seats:
                self.add_error("is_subscriber", seat_limit_message(utility.subscriber_seats))
        return cleaned


@admin.register(Membership)
class MembershipAdmin(ServiceErrorsAsMessages, AuditHistory, admin.ModelAdmin):
    """People in utilities. Writes, bulk actions included, go through the membership services,
    so seats and the audit log hold; a bulk action changes all the selected rows or none."""

    form = MembershipForm
    list_display = ("user", "utility", "account", "role", "is_subscriber", "is_subscriber_datetime")
    list_select_related = ("user", "utility__account")
    list_filter = ("role", "is_subscriber", ("utility__account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__email", "utility__name")
    autocomplete_fields = ("user", "utility")
    ordering = ("-id",)
    actions = ("mark_subscribers", "remove_subscription", "set_role_spectator", "set_role_member",
               "set_role_leader", "set_role_admin")

    @admin.display(description=_("account"), ordering="utility__account__name")
    def account(self, obj):
        return obj.utility.account

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "utility", "role", "is_subscriber")
        return ("user", "utility", "role", "is_subscriber", "is_subscriber_datetime", "created")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # User and utility are fixed once the membership exists.
        readonly = ["user", "utility", "is_subscriber_datetime", "created"]
        if not is_utility_admin(request.user, obj.utility):
            readonly.append("role")  # the service refuses it from anybody else
        return readonly

    # ------------------------------------------------------------------- writes

    def save_model(self, request, obj, form, change):
        if not change:
            adopt(obj, services.membership_create(actor=request.user, user=obj.user, utility=obj.utility,
                                                  is_subscriber=obj.is_subscriber, role=obj.role))
            return
        data = {name: getattr(obj, name) for name in MEMBERSHIP_FIELDS if name in form.changed_data}
        if data:
            adopt(obj, services.membership_update(actor=request.user, membership=obj, data=data))

    def delete_model(self, request, obj):
        services.membership_delete(actor=request.user, membership=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("utility__account").order_by("utility_id", "id"):
            services.membership_delete(actor=request.user, membership=membership)

    # ------------------------------------------------------------------- bulk actions

    @admin.action(description=_("Mark as subscribers"), permissions=["change"])
    def mark_subscribers(self, request, queryset):
        self.update_each(request, queryset, "is_subscriber", True,
                         done=_("Marked %(count)d of the selected memberships as subscribers."),
                         already=_("%(count)d subscribed already."))

    @admin.action(description=_("Remove subscription"), permissions=["change"])
    def remove_subscription(self, request, queryset):
        self.update_each(request, queryset, "is_subscriber", False,
                         done=_("Removed the subscription of %(count)d of the selected memberships."),
                         already=_("%(count)d did not subscribe."))

    def set_role(self, request, queryset, role):
        self.update_each(request, queryset, "role", role,
                         done=_("Set the role of %(count)d of the selected memberships to %(role)s."),
                         already=_("%(count)d had that role already."))

    @admin.action(description=_("Set role: spectator"), permissions=["change"])
    def set_role_spectator(self, request, queryset):
        self.set_role(request, queryset, UtilityRole.SPECTATOR)

    @admin.action(description=_("Set role: member"), permissions=["change"])
    def set_role_member(self, request, queryset):
        self.set_role(request, queryset, UtilityRole.MEMBER)

    @admin.action(description=_("Set role: leader"), permissions=["change"])
    def set_role_leader(self, request, queryset):
        self.set_role(request, queryset, UtilityRole.LEADER)

    @admin.action(description=_("Set role: admin"), permissions=["change"])
    def set_role_admin(self, request, queryset):
        self.set_role(request, queryset, UtilityRole.ADMIN)

    def update_each(self, request, queryset, field, value, *, done, already):
        """Set `field` to `value` on every selected membership through `membership_update`.

        All or nothing: every row is tried, in one transaction, so the message can name
        each refusal (seats running out, a role only the utility's admins may set); if any
        is refused, the rows that went through are rolled back as well.
        """
        # By utility, so concurrent actions take the utilities' row locks in the same order.
        selected = list(queryset.select_related("user", "utility__account").order_by("utility_id", "id"))
        todo = [membership for membership in selected if getattr(membership, field) != value]
        refused = []
        with transaction.atomic(using=router.db_for_write(Membership)):
            for membership in todo:
                try:
                    services.membership_update(actor=request.user, membership=membership, data={field: value})
                except (ServiceError, ValidationError) as exc:
                    refused.append((membership, _error_text(exc)))
            if refused:
                transaction.set_rollback(True)
        if refused:
            self.message_user(request, self.refusal_message(len(todo), refused), messages.ERROR)
            return
        label = UtilityRole(value).label if field == "role" else ""
        if todo:
            self.message_user(request, done % {"count": len(todo), "role": label}, messages.SUCCESS)
        if len(selected) > len(todo):
            self.message_user(request, already % {"count": len(selected) - len(todo)}, messages.INFO)

    @staticmethod
    def refusal_message(tried: int, refused: list) -> str:
        head = ngettext(
            "Nothing was changed: %(refused)d of the %(tried)d memberships to change was refused "
            "(the other %(ok)d would have gone through).",
            "Nothing was changed: %(refused)d of the %(tried)d memberships to change were refused "
            "(the other %(ok)d would have gone through).",
            len(refused),
        ) % {"refused": len(refused), "tried": tried, "ok": tried - len(refused)}
        named = [f"{membership.user} in {membership.utility}: {reason}"
                 for membership, reason in refused[:REFUSALS_SHOWN]]
        if len(refused) > REFUSALS_SHOWN:
            named.append(_("and %(count)d more.") % {"count": len(refused) - REFUSALS_SHOWN})
        return " ".join([head, "; ".join(named)])
