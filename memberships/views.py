"""The portal's utility pages: a utility's memberships (subscriber toggles, roles, seats),
its settings and deletion.

Reads go through `for_user()` (unseen is 404); writes go through `memberships.services`
after the same role predicates the API uses (seen but not allowed is 403).
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import TemplateView

from accounts.models import Account, Invitation
from accounts.services import invitation_create, invitation_revoke
from core.portal import SERVICE_ERRORS, ObjectPageMixin, PageActionView, forbidden_to_403, service_error_message
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


class UtilityMixin(ObjectPageMixin):
    """The utility at `pk` as the signed-in user sees it; 404 when they do not."""

    model = Utility

    def page_queryset(self):
        return super().page_queryset().select_related("account")

    def get_utility(self) -> Utility:
        return self.get_page_object()


class UtilityDetailView(UtilityMixin, TemplateView):
    """A utility: its memberships with subscriber toggles and roles, seats, settings."""

    template_name = "memberships/utility_detail.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        utility = self.get_utility()
        role = utility_role(user, utility)  # shown as "your role"; decisions ask has_perm
        is_admin = user.has_perm("memberships.change_utility", utility)
        is_leader = user.has_perm("memberships.change_membership", utility)
        memberships = list(
            Membership.objects.for_user(user).filter(utility=utility)
            .select_related("user").order_by("user__email", "id")
        )
        for membership in memberships:
            membership.utility = utility
            membership.can_remove = user.has_perm("memberships.delete_membership", membership)
        if is_admin:
            kwargs.setdefault("member_form", MembershipAddForm(actor=user))
            kwargs.setdefault("settings_form", UtilitySettingsForm(
                initial=UtilitySettingsForm.initial_for(utility),
                can_change_billing_day=user.has_perm("memberships.change_utility_billing_day", utility),
            ))
            sent = list(Invitation.objects.for_user(user).pending().filter(utility=utility).order_by("email", "id"))
            for invitation in sent:
                invitation.revoke_url = reverse("utility_invitation_revoke", args=[utility.pk, invitation.pk])
            kwargs.setdefault("sent_invitations", sent)
        return super().get_context_data(
            utility=utility,
            my_role=role,
            is_admin=is_admin,
            is_leader=is_leader,
            can_delete=user.has_perm("memberships.delete_utility", utility),
            memberships=memberships,
            # Seats are counted over the memberships shown: everyone who sees any sees them all.
            subscriber_count=sum(1 for membership in memberships if membership.is_subscriber),
            role_choices=UtilityRole.choices,
            account_visible=Account.objects.for_user(user).filter(pk=utility.account_id).exists(),
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
                messages.success(request, "The utility's settings are saved.")
                return redirect("utility_detail", pk=utility.pk)
        return self.render_to_response(self.get_context_data(settings_form=form))


class UtilityActionView(UtilityMixin, PageActionView):
    """A form of the utility page that posts to its own address."""

    page_url_name = "utility_detail"
    anchor = "memberships"

    @property
    def page_view(self):
        return UtilityDetailView

    def get_membership(self, utility) -> Membership:
        membership = get_object_or_404(
            Membership.objects.for_user(self.request.user).filter(utility=utility).select_related("user"),
            pk=self.kwargs["membership_pk"],
        )
        membership.utility = utility  # the rules read its utility and account: no query again
        return membership


class MembershipAddView(UtilityActionView):
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
                messages.success(request, form.done_message.format(email=form.cleaned_data["email"]))
                return self.back_to_page()
        return self.render_page(member_form=form)


class UtilityInvitationRevokeView(UtilityActionView):
    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        invitation = get_object_or_404(Invitation.objects.for_user(request.user).filter(utility=utility),
                                       pk=self.kwargs["invitation_pk"])
        try:
            invitation_revoke(actor=request.user, invitation=invitation)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            messages.error(request, service_error_message(exc))
        else:
            messages.success(request, f"The invitation of {invitation.email} is revoked.")
        return self.back_to_page()


class MembershipSubscriberView(UtilityActionView):
    """Subscribe or unsubscribe a member (leaders and up); the seat limit holds."""

    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        membership = self.get_membership(utility)
        self.require("memberships.change_membership", membership,
                     "Only the utility's leaders and admins change subscriptions.")
        form = SubscriberForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Say whether to subscribe or unsubscribe.")
            return self.back_to_page()
        try:
            membership = services.membership_update(
                actor=request.user, membership=membership,
                data={"is_subscriber": form.cleaned_data["is_subscriber"]},
            )
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            messages.error(request, service_error_message(exc))
        else:
            state = "subscribes" if membership.is_subscriber else "no longer subscribes"
            messages.success(request, f"{membership.user.email} {state}.")
        return self.back_to_page()


class MembershipRoleView(UtilityActionView):
    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        membership = self.get_membership(utility)
        self.require("memberships.change_membership_role", membership, "Only the utility's admins change roles.")
        form = MembershipRoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose one of the roles.")
            return self.back_to_page()
        try:
            membership = services.membership_update(actor=request.user, membership=membership,
                                                    data={"role": form.cleaned_data["role"]})
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            messages.error(request, service_error_message(exc))
        else:
            messages.success(request, f"{membership.user.email} is now a {membership.role}.")
        return self.back_to_page()


class MembershipRemoveView(UtilityActionView):
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
            messages.error(request, service_error_message(exc))
            return self.back_to_page()
        if leaving:
            messages.success(request, f"You left {utility.name}.")
            if not Utility.objects.for_user(request.user).filter(pk=utility.pk).exists():
                return redirect("dashboard")
        else:
            messages.success(request, f"{membership.user.email} is no longer a member.")
        return self.back_to_page()


class UtilityDeleteView(UtilityMixin, TemplateView):
    """Ask, then delete the utility with its memberships (account admins; a personal one's owner)."""

    template_name = "memberships/utility_confirm_delete.html"

    def check(self, utility):
        self.require("memberships.delete_utility", utility, "Only the account's admins delete a utility.")

    def get_context_data(self, **kwargs):
        utility = self.get_utility()
        self.check(utility)
        return super().get_context_data(utility=utility, **kwargs)

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
