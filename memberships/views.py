"""The portal's utility pages: a utility's memberships (subscriber toggles, roles, seats),
its settings and deletion.

Reads go through `for_user()` (unseen is 404); writes go through `memberships.services`
after the same role predicates the API uses (seen but not allowed is 403).
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import TemplateView

from accounts.models import Account, Invitation
from accounts.services import invitation_create, invitation_revoke
from core.portal import (
    SERVICE_ERRORS,
    ObjectPageMixin,
    PageActionView,
    forbidden_to_403,
    person_name,
    say,
    service_error_message,
    stash_form,
)
from memberships import services
from memberships.forms import (
    MembershipAddForm,
    MembershipRoleForm,
    SubscriberForm,
    UtilitySettingsForm,
)
from memberships.models import Membership, Utility
from memberships.rules import utility_role

UtilityRole = Membership.Role

MEMBERS_PAGE_SIZE = 25
#: the members list's sort keys: what the user picks → the ordering
MEMBER_SORTS = {
    "name": (Lower("user__first_name"), Lower("user__last_name"), "user__email", "id"),
    "email": ("user__email", "id"),
    "role": ("role", "user__email", "id"),
    "subscriber": ("-is_subscriber", "user__email", "id"),
    "since": ("-is_subscriber_datetime", "id"),
}


def search_people(queryset, text: str, prefix: str = "user__"):
    """Rows whose person's email, username or names hold every word of `text`."""
    for word in text.split()[:8]:
        queryset = queryset.filter(
            Q(**{f"{prefix}email__icontains": word}) | Q(**{f"{prefix}username__icontains": word})
            | Q(**{f"{prefix}first_name__icontains": word}) | Q(**{f"{prefix}last_name__icontains": word}))
    return queryset


def sort_links(request, sorts, current: str) -> dict:
    """{key: (query string choosing that sort, aria-sort of its column)} for a table's headers."""
    links = {}
    for key in sorts:
        query = request.GET.copy()
        query["sort"] = key
        query.pop("page", None)
        links[key] = (f"?{query.urlencode()}", "ascending" if key == current else None)
    return links


class UtilityMixin(ObjectPageMixin):
    """The utility at `pk` as the signed-in user sees it; 404 when they do not."""

    model = Utility
    refusal = "Only the utility's admins do this."

    def page_queryset(self):
        return super().page_queryset().select_related("account")

    def get_utility(self) -> Utility:
        return self.get_page_object()

    def tabs_context(self, utility: Utility, tab: str) -> dict:
        """What the utility's tabs show: each page asks the same rules its view will."""
        user = self.request.user
        return {
            "tab": tab,
            "utility": utility,
            "can_read_charges": user.has_perm("billing.view_charge", utility),
            "can_read_utility_history": (not utility.account.is_default
                                         and user.has_perm("accounts.view_auditlogentry", utility.account)),
            "account_visible": Account.objects.for_user(user).filter(pk=utility.account_id).exists(),
        }


class UtilityDetailView(UtilityMixin, TemplateView):
    """A utility: its memberships with subscriber toggles and roles, seats, settings."""

    template_name = "memberships/utility_detail.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        utility = self.get_utility()
        role = utility_role(user, utility)  # shown as "your role"; decisions ask has_perm
        is_admin = user.has_perm("memberships.change_utility", utility)
        is_leader = user.has_perm("memberships.change_membership", utility)
        visible = Membership.objects.for_user(user).filter(utility=utility)
        # Seats are counted over the memberships shown: everyone who sees any sees them all.
        counts = visible.aggregate(members=Count("pk"), subscribers=Count("pk", filter=Q(is_subscriber=True)))
        query = self.request.GET.get("q", "").strip()[:100]
        sort = self.request.GET.get("sort", "email")
        sort = sort if sort in MEMBER_SORTS else "email"
        listed = search_people(visible, query) if query else visible
        paginator = Paginator(listed.select_related("user").order_by(*MEMBER_SORTS[sort]), MEMBERS_PAGE_SIZE)
        if not query:
            paginator.count = counts["members"]  # counted above, with the subscribers
        page = paginator.get_page(self.request.GET.get("page"))
        memberships = list(page.object_list)
        for membership in memberships:
            membership.utility = utility
            membership.can_remove = user.has_perm("memberships.delete_membership", membership)
        if is_admin:
            kwargs.setdefault("member_form", self.form_or_stashed(
                "member_form", lambda data: MembershipAddForm(data, actor=user)))
            kwargs.setdefault("settings_form", self.form_or_stashed("settings_form", lambda data: UtilitySettingsForm(
                data, initial=UtilitySettingsForm.initial_for(utility),
                can_change_billing_day=user.has_perm("memberships.change_utility_billing_day", utility),
            )))
            sent = list(Invitation.objects.for_user(user).pending().filter(utility=utility).order_by("email", "id"))
            for invitation in sent:
                invitation.revoke_url = reverse("utility_invitation_revoke", args=[utility.pk, invitation.pk])
            kwargs.setdefault("sent_invitations", sent)
        return super().get_context_data(
            **self.tabs_context(utility, "members"),
            my_role=role,
            is_admin=is_admin,
            is_leader=is_leader,
            can_delete=user.has_perm("memberships.delete_utility", utility),
            memberships=memberships,
            page_obj=page,
            query=query,
            sort=sort,
            sort_links=sort_links(self.request, MEMBER_SORTS, sort),
            back=self.request.GET.urlencode(),
            member_count=counts["members"],
            subscriber_count=counts["subscribers"],
            seats_full=utility.subscriber_seats is not None and counts["subscribers"] >= utility.subscriber_seats,
            role_choices=UtilityRole.choices,
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        """Save the settings form: name and seats (utility admins), billing day (account admins)."""
        utility = self.get_utility()
        self.require("memberships.change_utility", utility, "Only the utility's admins change it.")
        billing_day_allowed = request.user.has_perm("memberships.change_utility_billing_day", utility)
        form = UtilitySettingsForm(request.POST, initial=UtilitySettingsForm.initial_for(utility),
                                   can_change_billing_day=billing_day_allowed)
        if form.is_valid():
            data = dict(form.cleaned_data)
            if not billing_day_allowed:
                data.pop("billing_day")
            try:
                services.utility_update(actor=request.user, utility=utility, data=data)
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                say(request, messages.SUCCESS, "The utility's settings are saved.", section="settings")
                return redirect(reverse("utility_detail", args=[utility.pk]) + "#settings")
        stash_form(request, "settings_form", form)
        return redirect(reverse("utility_detail", args=[utility.pk]) + "#settings")


class UtilityActionView(UtilityMixin, PageActionView):
    """A form of the utility page that posts to its own address."""

    page_url_name = "utility_detail"
    anchor = "memberships"
    confirm_template = "portal/confirm.html"

    def get_membership(self, utility) -> Membership:
        membership = get_object_or_404(
            Membership.objects.for_user(self.request.user).filter(utility=utility).select_related("user"),
            pk=self.kwargs["membership_pk"],
        )
        membership.utility = utility  # the rules read its utility and account: no query again
        return membership


class MembershipAddView(UtilityActionView):
    confirm_template = None

    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        self.require("memberships.add_membership", utility, "Only the utility's admins add members.")
        form = MembershipAddForm(request.POST, actor=request.user)
        if form.is_valid():
            try:
                if form.user is not None:
                    services.membership_create(
                        actor=request.user, user=form.user, utility=utility,
                        is_subscriber=form.cleaned_data["is_subscriber"], role=form.cleaned_data["role"],
                    )
                else:
                    invitation_create(actor=request.user, email=form.cleaned_data["email"], target=utility,
                                      role=form.cleaned_data["role"])
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                self.success(form.done_message.format(email=form.cleaned_data["email"]))
                return self.back_to_page()
        return self.form_failed("member_form", form)


class UtilityInvitationRevokeView(UtilityActionView):
    def confirm_context(self):
        utility = self.get_utility()
        invitation = get_object_or_404(Invitation.objects.for_user(self.request.user).pending().filter(utility=utility),
                                       pk=self.kwargs["invitation_pk"])
        self.require("accounts.delete_invitation", invitation, "Only the utility's admins revoke its invitations.")
        return {"question": f"Revoke the invitation of {invitation.email}?",
                "detail": f"The link sent to {invitation.email} stops working; you can invite them again later.",
                "button": "Revoke the invitation"}

    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        invitation = get_object_or_404(Invitation.objects.for_user(request.user).filter(utility=utility),
                                       pk=self.kwargs["invitation_pk"])
        try:
            invitation_revoke(actor=request.user, invitation=invitation)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
        else:
            self.success(f"The invitation of {invitation.email} is revoked.")
        return self.back_to_page()


class MembershipSubscriberView(UtilityActionView):
    """Subscribe or unsubscribe a member (leaders and up); the seat limit holds. Subscribing
    is one click; unsubscribing (it frees the seat for someone else) asks first."""

    def confirm_context(self):
        utility = self.get_utility()
        membership = self.get_membership(utility)
        self.require("memberships.change_membership", membership,
                     "Only the utility's leaders and admins change subscriptions.")
        return {"question": f"Unsubscribe {person_name(membership.user)}?",
                "detail": f"{membership.user.email} stops being a subscriber of {utility.name}; their seat is "
                          f"free for someone else.",
                "button": "Unsubscribe", "fields": [("is_subscriber", "false")]}

    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        membership = self.get_membership(utility)
        self.require("memberships.change_membership", membership,
                     "Only the utility's leaders and admins change subscriptions.")
        form = SubscriberForm(request.POST)
        if not form.is_valid():
            self.error("Say whether to subscribe or unsubscribe.")
            return self.back_to_page()
        try:
            membership = services.membership_update(
                actor=request.user, membership=membership,
                data={"is_subscriber": form.cleaned_data["is_subscriber"]},
            )
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
        else:
            state = "subscribes" if membership.is_subscriber else "no longer subscribes"
            self.success(f"{membership.user.email} {state}.")
        return self.back_to_page()


class MembershipRoleView(UtilityActionView):
    confirm_template = None

    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        membership = self.get_membership(utility)
        self.require("memberships.change_membership_role", membership, "Only the utility's admins change roles.")
        form = MembershipRoleForm(request.POST)
        if not form.is_valid():
            self.error("Choose one of the roles.")
            return self.back_to_page()
        try:
            membership = services.membership_update(actor=request.user, membership=membership,
                                                    data={"role": form.cleaned_data["role"]})
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
        else:
            self.success(f"{membership.user.email} is now a {membership.role}.")
        return self.back_to_page()


class MembershipRemoveView(UtilityActionView):
    def confirm_context(self):
        utility = self.get_utility()
        membership = self.get_membership(utility)
        self.require("memberships.delete_membership", membership,
                     "Leaders remove spectators, members and leaders; admins remove anyone.")
        if membership.user_id == self.request.user.pk:
            return {"question": f"Leave {utility.name}?",
                    "detail": "You stop being a member; to come back, its admins add you again.",
                    "button": f"Leave {utility.name}"}
        return {"question": f"Remove {person_name(membership.user)} from {utility.name}?",
                "detail": f"{membership.user.email} loses their {membership.role} role"
                          f"{' and their subscriber seat' if membership.is_subscriber else ''} in {utility.name}.",
                "button": "Remove the member"}

    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        membership = self.get_membership(utility)
        self.require("memberships.delete_membership", membership,
                     "Leaders remove spectators, members and leaders; admins remove anyone.")
        leaving = membership.user_id == request.user.pk
        try:
            services.membership_delete(actor=request.user, membership=membership)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
            return self.back_to_page()
        if leaving:
            if not Utility.objects.for_user(request.user).filter(pk=utility.pk).exists():
                messages.success(request, f"You left {utility.name}.")
                return redirect("dashboard")
            self.success(f"You left {utility.name}.")
        else:
            self.success(f"{membership.user.email} is no longer a member.")
        return self.back_to_page()


class UtilityDeleteView(UtilityMixin, TemplateView):
    """Ask, then delete the utility with its memberships (account admins; a personal one's owner)."""

    template_name = "memberships/utility_confirm_delete.html"

    def check(self, utility):
        self.require("memberships.delete_utility", utility, "Only the account's admins delete a utility.")

    def get_context_data(self, **kwargs):
        utility = self.get_utility()
        self.check(utility)
        return super().get_context_data(
            utility=utility,
            membership_count=utility.memberships.count(),
            product_count=utility.products.count(),
            charge_count=utility.charges.count(),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        self.check(utility)
        try:
            if utility.personal_owner_id == request.user.pk:
                services.personal_utility_delete(user=request.user)
            else:
                services.utility_delete(actor=request.user, utility=utility)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            messages.error(request, service_error_message(exc))
            return redirect("utility_detail", pk=utility.pk)
        messages.success(request, f"The utility {utility.name} is deleted.")
        if Account.objects.for_user(request.user).filter(pk=utility.account_id, is_default=False).exists():
            return redirect("account_detail", pk=utility.account_id)
        return redirect("dashboard")
