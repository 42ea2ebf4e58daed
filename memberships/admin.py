"""The staff face for utilities and their memberships, and for an account's utilities on
the account's page.

Writes go through `memberships.services`, so subscriber seats, "only the utility's admins
change roles" and the audit log hold here as they do in the API. Forms check what the
services check, to show errors in place; the services stay the judge (a refusal that
slipped past the form is an error message, and the whole save is rolled back).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin import AccountAdmin
from core.admin import ServiceInline, ServiceModelAdmin, SiteAdminObjectPermissions, Writes, error_text
from core.errors import ServiceError
from memberships import services
from memberships.models import Membership, Utility

UtilityRole = Membership.Role
# How many refused rows a bulk action names before summing up the rest.
REFUSALS_SHOWN = 10
UTILITY_WRITES = Writes(services, "utility", fields=("account", "name", "billing_day", "subscriber_seats"))
MEMBERSHIP_WRITES = Writes(services, "membership", fields=("user", "utility", "role", "is_subscriber"))


def seat_limit_message(seats: int) -> str:
    return _("All %(seats)d subscriber seats of this utility are taken.") % {"seats": seats}


def subscriber_count():
    """A utility's subscribers, counted in the same query as the rows (joins elsewhere in the
    query, such as a search across members, cannot inflate it)."""
    rows = Membership.objects.filter(utility_id=OuterRef("pk"), is_subscriber=True).order_by().values("utility_id")
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0)


def seats_taken(utility) -> str:
    """Subscribers over seats, e.g. "3 / 10" or "3 / unlimited"."""
    seats = _("unlimited") if utility.subscriber_seats is None else utility.subscriber_seats
    return f"{utility.subscriber_count} / {seats}"


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
    actor = None  # who is acting, set per request by ServiceInline.get_formset

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
            # Only the utility's admins change roles.
            if "role" in self.fields and not self.actor.has_perm("memberships.change_membership_role",
                                                                  self.instance):
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


class MembershipInline(ServiceInline, admin.TabularInline):
    """A utility's memberships, written through the membership services."""

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
    writes = MEMBERSHIP_WRITES

    def get_queryset(self, request):
        # The utility's account is what the role rules read to decide who changes roles.
        return super().get_queryset(request).select_related("user", "utility__account").order_by("id")

    def order_updates(self, changed):
        # Seats freed before seats taken, so one save can hand a seat from one member to another.
        return sorted(changed, key=lambda pair: pair[0].is_subscriber)


@admin.register(Utility)
class UtilityAdmin(SiteAdminObjectPermissions, ServiceModelAdmin):
    """Utilities with their memberships, and guardian's object permissions on them (site
    admins). Every write goes through the services."""

    form = UtilityForm
    list_display = ("name", "account", "billing_day", "seats", "members", "is_personal")
    list_select_related = ("account",)
    list_filter = (("account", admin.RelatedOnlyFieldListFilter), PersonalFilter, MemberRoleFilter)
    search_fields = ("name", "account__name", "memberships__user__email")
    autocomplete_fields = ("account",)
    ordering = ("account__name", "name", "id")
    inlines = (MembershipInline,)
    writes = UTILITY_WRITES

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
        if not request.user.has_perm("memberships.change_utility_billing_day", obj):
            readonly.append("billing_day")  # the service refuses it from anybody else
        return readonly

    # ------------------------------------------------------------------- writes

    def update(self, request, obj, form):
        data = form.cleaned_data
        changes = {name: data[name] for name in UTILITY_WRITES.fields if name in form.changed_data}
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

    def rows_to_delete(self, queryset):
        return queryset.order_by("pk")


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
class MembershipAdmin(ServiceModelAdmin):
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
    writes = MEMBERSHIP_WRITES

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
        if not request.user.has_perm("memberships.change_membership_role", obj):
            readonly.append("role")  # the service refuses it from anybody else
        return readonly

    def rows_to_delete(self, queryset):
        return queryset.select_related("utility__account").order_by("utility_id", "id")

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
                    refused.append((membership, error_text(exc)))
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


# --------------------------------------------------------------------------- an account's utilities


class UtilityInlineForm(forms.ModelForm):
    actor = None  # who is acting, set per request by ServiceInline.get_formset

    class Meta:
        model = Utility
        fields = ("name", "billing_day", "subscriber_seats")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the account's admins change a billing day.
        if self.instance.pk is not None and not self.actor.has_perm("memberships.change_utility_billing_day",
                                                                    self.instance):
            self.fields["billing_day"].disabled = True

    def clean_subscriber_seats(self):
        seats = self.cleaned_data.get("subscriber_seats")
        taken = getattr(self.instance, "subscriber_count", 0) if self.instance.pk is not None else 0
        if seats is not None and seats < taken:
            raise ValidationError(
                _("%(taken)d members subscribe already; free seats before lowering the limit to %(seats)d.")
                % {"taken": taken, "seats": seats}, code="seat_limit_reached")
        return seats


class UtilityInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        # The database compares names case-insensitively; two new rows would only clash at save time.
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            name = form.cleaned_data.get("name")
            if not name:
                continue
            if name.casefold() in seen:
                form.add_error("name", _("Another row has this name already."))
            seen.add(name.casefold())


class UtilityInline(ServiceInline, admin.TabularInline):
    """An account's utilities, written through the utility services; a utility's memberships
    are on its own page, one click away."""

    model = Utility
    form = UtilityInlineForm
    formset = UtilityInlineFormSet
    fields = ("name", "billing_day", "subscriber_seats", "seats_taken")
    readonly_fields = ("seats_taken",)
    extra = 0
    show_change_link = True
    writes = UTILITY_WRITES
    # The default account's utilities are everyone's personal ones (one per user): listed,
    # filtered and searched in the utility admin rather than all on its page.
    on_default_account = False

    def get_queryset(self, request):
        # The account is what the role rules read to decide who changes a billing day.
        return super().get_queryset(request).select_related("account").annotate(subscriber_count=subscriber_count())

    @admin.display(description=_("subscribers / seats"))
    def seats_taken(self, obj):
        return seats_taken(obj) if obj.pk is not None else "-"


# The account page lists the account's utilities; accounts, the lower layer, cannot name them.
AccountAdmin.inlines = (*AccountAdmin.inlines, UtilityInline)
