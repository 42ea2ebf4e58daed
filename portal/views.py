"""The portal's account pages: the dashboard's accounts and utilities, an account's settings,
members, utilities and activation code, its history, and joining with an activation code.

Reads go through `for_user()` (what a user cannot see is a 404); every write goes through the
services, after the same role predicates the API uses (what they see but may not change is a
403). Errors the services raise are shown next to the form field they are about, or as a
message on the page the row action came from.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.forms.fields import InvalidJSONInput
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from accounts import services
from accounts.api.views import ActivationThrottle
from accounts.forms import MemberByEmailForm, ServiceErrorsMixin
from accounts.models import (
    Account,
    AccountMembership,
    ActivationCode,
    AuditLogEntry,
    BrowserSession,
    Contact,
    Invitation,
    Session,
    User,
    validate_custom_attributes,
)
from accounts.rules import account_role
from core.portal import (
    SERVICE_ERRORS,
    ObjectPageMixin,
    PageActionView,
    forbidden_to_403,
    person_name,
    say,
    service_error_message,
    stash_form,
    unstash_form,
)
from memberships import services as membership_services
from memberships.forms import PersonalUtilityForm, UtilityCreateForm
from memberships.models import Membership, Utility
from memberships.views import MEMBERS_PAGE_SIZE, UtilityMixin, search_people, sort_links
from portal.history import history_page, utility_entries

AccountRole = AccountMembership.Role

ACCOUNT_MEMBER_SORTS = {
    "name": (Lower("user__first_name"), Lower("user__last_name"), "user__email", "id"),
    "email": ("user__email", "id"),
    "role": ("role", "user__email", "id"),
    "since": ("created", "id"),
}


# --------------------------------------------------------------------------- forms


def _account_formfield(name, **kwargs):
    """The model field's form field, with the model's own validators, so a bad colour or URL
    is shown with the other errors rather than after them (the service checks them too)."""
    field = Account._meta.get_field(name)
    kwargs.setdefault("validators", list(field._validators))
    return field.formfield(**kwargs)


class ColourInput(forms.TextInput):
    """A #rrggbb text field with a colour picker beside it (static/portal/portal.js keeps them
    in step; without script the text field alone is the value)."""

    template_name = "portal/widgets/colour.html"

    def __init__(self, attrs=None, picker_label="Pick the colour"):
        self.picker_label = picker_label
        super().__init__({"pattern": "#[0-9a-fA-F]{6}", "placeholder": "#1d4ed8", "size": 8,
                          "spellcheck": "false", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        text = str(value or "")
        valid = len(text) == 7 and text.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in text[1:])
        context["widget"]["picker_value"] = text.lower() if valid else "#000000"
        context["widget"]["picker_label"] = self.picker_label
        return context


class SafeJSONField(forms.JSONField):
    """Django's JSONField lets ValueError escape (e.g. a number of 5,000 digits): a field error instead."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValueError:
            raise forms.ValidationError("Enter a valid JSON object.", code="invalid") from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except ValueError:
            return InvalidJSONInput(data)  # shown back as typed, next to its error


class AccountForm(ServiceErrorsMixin, forms.Form):
    """An account's settings. A plain Form: the service validates against the model and saves."""

    name = _account_formfield("name", widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    primary_color = _account_formfield("primary_color", label="Primary colour",
                                       widget=ColourInput(picker_label="Pick the primary colour"),
                                       help_text="#rrggbb")
    secondary_color = _account_formfield("secondary_color", label="Secondary colour",
                                         widget=ColourInput(picker_label="Pick the secondary colour"),
                                         help_text="#rrggbb")
    logo_url = _account_formfield("logo_url", label="Logo URL", assume_scheme="https",
                                  help_text="An http or https address.")
    health_time_period = _account_formfield("health_time_period", label="Health time period (seconds)",
                                            help_text="")
    exec_interval = _account_formfield("exec_interval", label="Execution interval (seconds)", help_text="")
    base_line_exec_interval = _account_formfield("base_line_exec_interval",
                                                 label="Baseline execution interval (seconds)", help_text="")
    cd_model_frequency = _account_formfield("cd_model_frequency", label="CD model frequency (seconds)",
                                            help_text="")
    cd_execution_frequency = _account_formfield("cd_execution_frequency", label="CD execution frequency (seconds)",
                                                help_text="")
    data_retention = _account_formfield("data_retention", label="Data retention (days)",
                                        help_text="0 keeps data forever.")
    default_product_privacy = _account_formfield("default_product_privacy")
    custom_attributes = SafeJSONField(
        required=False, label="Custom attributes",
        help_text='A JSON object of names to text, numbers or true/false, e.g. {"region": "north"}.',
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60, "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "account-%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def initial_for(cls, account: Account) -> dict:
        return {name: getattr(account, name) for name in cls.base_fields}

    def clean_custom_attributes(self):
        value = self.cleaned_data["custom_attributes"]
        value = {} if value in (None, "") else value
        # The model runs this validator too, but its JSONField swaps the message of any
        # `invalid` error for "Value must be valid JSON."; run it here to keep the real one.
        validate_custom_attributes(value)
        return value


class AccountMemberAddForm(MemberByEmailForm):
    add_permission = "accounts.add_accountmembership"
    role = forms.ChoiceField(choices=AccountRole.choices, initial=AccountRole.USER)


class AccountMemberRoleForm(ServiceErrorsMixin, forms.Form):
    role = forms.ChoiceField(choices=AccountRole.choices)


class ActivationForm(ServiceErrorsMixin, forms.Form):
    activation_code = forms.CharField(label="Activation code", max_length=64,
                                      widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))

    service_default_field = "activation_code"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "activation-%s")
        super().__init__(*args, **kwargs)


# --------------------------------------------------------------------------- dashboard


class DashboardView(LoginRequiredMixin, TemplateView):
    template_name = "accounts/dashboard.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        kwargs = {**dashboard_sections(user), **kwargs}
        kwargs.setdefault("activation_form", unstash_form(self.request, "activation_form", ActivationForm)
                          or ActivationForm())
        kwargs.setdefault("personal_utility_form",
                          unstash_form(self.request, "personal_utility_form", PersonalUtilityForm)
                          or PersonalUtilityForm())
        return super().get_context_data(
            roles=user.roles.all(),
            invitations=pending_invitations_to(user),
            contact_count=Contact.objects.for_user(user).count(),
            session_count=Session.objects.for_user(user).count(),
            browser_count=BrowserSession.objects.for_user(user).count(),
            **kwargs,
        )




def pending_invitations_to(user):
    """Pending, unexpired invitations addressed to the user's verified email."""
    if not user.email_verified:
        return Invitation.objects.none()
    return (Invitation.objects.for_user(user)
            .pending().filter(email=user.email)
            .select_related("account", "utility", "invited_by").order_by("created", "id"))


class InvitationAnswerView(LoginRequiredMixin, View):
    """Accept or decline an invitation addressed to me (dashboard buttons)."""

    http_method_names = ["post"]
    answer = "accept"

    def post(self, request, pk, *args, **kwargs):
        invitation = get_object_or_404(Invitation.objects.for_user(request.user), pk=pk)
        try:
            if self.answer == "accept":
                services.invitation_accept(actor=request.user, invitation=invitation)
                messages.success(request, f"You joined {invitation.target}.")
            else:
                services.invitation_decline(actor=request.user, invitation=invitation)
                messages.success(request, f"You declined the invitation to {invitation.target}.")
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            messages.error(request, service_error_message(exc))
        return redirect("dashboard")


def dashboard_sections(user, **overrides) -> dict:
    """The dashboard's accounts and utilities sections, for `DashboardView`'s context.

    My accounts are those I belong to or consult for (not every account a site admin
    sees); my utilities are my memberships. Lazy querysets, one query each.
    """
    my_role = AccountMembership.objects.filter(user_id=user.pk, account_id=OuterRef("pk")).values("role")[:1]
    consulting = AccountMembership.objects.filter(
        user_id=user.pk, role__in=[AccountRole.CONSULTANT, AccountRole.ADMIN],
        account_id=OuterRef("consultancy_account_id"),
    )
    accounts = (
        Account.objects.for_user(user, include_default=False).with_counts()
        .annotate(my_role=Subquery(my_role), consulting=Exists(consulting))
        .filter(Q(my_role__isnull=False) | Q(consulting=True))
        .order_by("name", "id")
    )
    memberships = (
        Membership.objects.for_user(user).filter(user_id=user.pk)
        .select_related("utility__account").order_by("utility__name", "utility_id")
    )
    context = {
        "my_accounts": accounts,
        "my_memberships": memberships,
        "personal_utilities": Utility.objects.for_user(user).filter(personal_owner_id=user.pk)[:1],  # none or one
    }
    context.update(overrides)
    return context


def back_to_dashboard(request, key: str, form, section: str):
    """The dashboard again (PRG), showing `form` with its errors in `section`."""
    stash_form(request, key, form, page=reverse("dashboard"))
    return redirect(reverse("dashboard") + f"#{section}")


class ActivateView(LoginRequiredMixin, View):
    """Join an account with its activation code (the dashboard's form)."""

    http_method_names = ["post"]

    def handle_no_permission(self):
        return redirect_to_login(reverse("dashboard"))

    def post(self, request, *args, **kwargs):
        form = ActivationForm(request.POST)
        if form.is_valid():
            # The API's throttle, shared with it: guessing codes is as slow here as there.
            if not ActivationThrottle().allow_request(request, self):
                form.add_error("activation_code", ValidationError(
                    "Too many attempts; try again later.", code="too_many_attempts"))
                return back_to_dashboard(request, "activation_form", form, "accounts")
            try:
                membership = services.account_activate(actor=request.user,
                                                       code=form.cleaned_data["activation_code"])
            except SERVICE_ERRORS as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"You joined {membership.account.name}.")
                return redirect("account_detail", pk=membership.account_id)
        return back_to_dashboard(request, "activation_form", form, "accounts")


# --------------------------------------------------------------------------- account pages


class AccountCreateView(LoginRequiredMixin, TemplateView):
    template_name = "accounts/account_form.html"

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", AccountForm(initial=AccountForm.initial_for(Account())))
        return super().get_context_data(**kwargs)

    def post(self, request, *args, **kwargs):
        form = AccountForm(request.POST)
        if form.is_valid():
            try:
                account = services.account_create(actor=request.user, data=form.cleaned_data)
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                messages.success(request, f"{account.name} is created; you are its admin.")
                return redirect("account_detail", pk=account.pk)
        return self.render_to_response(self.get_context_data(form=form))


class AccountMixin(ObjectPageMixin):
    """The account at `pk` as the signed-in user sees it (with its counts where the page
    shows them); 404 when they do not."""

    model = Account
    refusal = "Only the account's admins do this."
    with_counts = False

    def page_queryset(self):
        queryset = super().page_queryset()
        return queryset.with_counts(self.request.user) if self.with_counts else queryset

    def get_account(self) -> Account:
        return self.get_page_object()


class AccountDetailView(AccountMixin, TemplateView):
    """An account: settings, members, utilities, activation code, and links to its history."""

    with_counts = True

    template_name = "accounts/account_detail.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        account = self.get_account()
        is_admin = user.has_perm("accounts.change_account", account)
        visible = AccountMembership.objects.for_user(user).filter(account=account)
        query = self.request.GET.get("q", "").strip()[:100]
        sort = self.request.GET.get("sort", "email")
        sort = sort if sort in ACCOUNT_MEMBER_SORTS else "email"
        listed = search_people(visible, query) if query else visible
        page = Paginator(listed.select_related("user").order_by(*ACCOUNT_MEMBER_SORTS[sort]),
                         MEMBERS_PAGE_SIZE).get_page(self.request.GET.get("page"))
        members = list(page.object_list)
        for member in members:
            # Offer only what will work: demoting or removing another admin is for site admins.
            member.account = account
            demotes = member.role != AccountRole.ADMIN or user.has_perm("accounts.demote_accountmembership", member)
            member.can_change_role = user.has_perm("accounts.change_accountmembership", member) and demotes
            member.can_remove = user.has_perm("accounts.delete_accountmembership", member)
        if is_admin:
            kwargs.setdefault("settings_form", self.form_or_stashed(
                "settings_form", lambda data: AccountForm(data, initial=AccountForm.initial_for(account))))
            kwargs.setdefault("member_form", self.form_or_stashed(
                "member_form", lambda data: AccountMemberAddForm(data, actor=user)))
            kwargs.setdefault("utility_form", self.form_or_stashed("utility_form", UtilityCreateForm))
            # Reading the code is not a write: an expired one is replaced only on request.
            kwargs.setdefault("activation_code", ActivationCode.objects.filter(
                account=account, expires_at__gt=timezone.now()).first())
            sent = list(Invitation.objects.for_user(user).pending().filter(account=account).order_by("email", "id"))
            for invitation in sent:
                invitation.revoke_url = reverse("account_invitation_revoke", args=[account.pk, invitation.pk])
            kwargs.setdefault("sent_invitations", sent)
        return super().get_context_data(
            account=account,
            my_role=account_role(user, account),
            is_admin=is_admin,
            can_read_history=user.has_perm("accounts.view_auditlogentry", account),
            members=members,
            page_obj=page,
            query=query,
            sort=sort,
            sort_links=sort_links(self.request, ACCOUNT_MEMBER_SORTS, sort),
            back=self.request.GET.urlencode(),
            member_count=account.member_count,
            role_choices=AccountRole.choices,
            utilities=Utility.objects.for_user(user).filter(account=account).order_by("name", "id"),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        """Save the settings form (account admins)."""
        account = self.get_account()
        self.require("accounts.change_account", account)
        form = AccountForm(request.POST)
        if form.is_valid():
            try:
                services.account_update(actor=request.user, account=account, data=form.cleaned_data)
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                say(request, messages.SUCCESS, "The account's settings are saved.", section="settings")
                return redirect(reverse("account_detail", args=[account.pk]) + "#settings")
        stash_form(request, "settings_form", form)
        return redirect(reverse("account_detail", args=[account.pk]) + "#settings")


class AccountActionView(AccountMixin, PageActionView):
    """A form of the account page that posts to its own address."""

    page_url_name = "account_detail"
    confirm_template = "portal/confirm.html"

    def get_membership(self, account) -> AccountMembership:
        return get_object_or_404(
            AccountMembership.objects.for_user(self.request.user).filter(account=account).select_related("user"),
            pk=self.kwargs["membership_pk"],
        )


class AccountInvitationRevokeView(AccountActionView):
    anchor = "members"

    def get_invitation(self, account):
        return get_object_or_404(Invitation.objects.for_user(self.request.user).pending().filter(account=account),
                                 pk=self.kwargs["invitation_pk"])

    def confirm_context(self):
        account = self.get_account()
        invitation = self.get_invitation(account)
        self.require("accounts.delete_invitation", invitation, "Only the account's admins revoke its invitations.")
        return {"question": f"Revoke the invitation of {invitation.email}?",
                "detail": f"The link sent to {invitation.email} stops working; you can invite them again later.",
                "button": "Revoke the invitation"}

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        invitation = get_object_or_404(Invitation.objects.for_user(request.user).filter(account=account),
                                       pk=self.kwargs["invitation_pk"])
        try:
            services.invitation_revoke(actor=request.user, invitation=invitation)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
        else:
            self.success(f"The invitation of {invitation.email} is revoked.")
        return self.back_to_page()


class AccountMemberAddView(AccountActionView):
    anchor = "members"

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        self.require("accounts.add_accountmembership", account)
        form = AccountMemberAddForm(request.POST, actor=request.user)
        if form.is_valid():
            role = form.cleaned_data["role"]
            try:
                if form.user is not None:
                    services.account_membership_create(actor=request.user, user=form.user, account=account, role=role)
                else:
                    services.invitation_create(actor=request.user, email=form.cleaned_data["email"], target=account,
                                               role=role)
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                self.success(form.done_message.format(email=form.cleaned_data["email"]))
                return self.back_to_page()
        return self.form_failed("member_form", form)


class AccountMemberRoleView(AccountActionView):
    anchor = "members"

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        membership = self.get_membership(account)
        self.require("accounts.change_accountmembership", membership)
        form = AccountMemberRoleForm(request.POST)
        if not form.is_valid():
            self.error("Choose one of the roles.")
            return self.back_to_page()
        try:
            membership = services.account_membership_update(
                actor=request.user, membership=membership, role=form.cleaned_data["role"])
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
        else:
            self.success(f"{membership.user.email} is now {membership.role}.")
        return self.back_to_page()


class AccountMemberRemoveView(AccountActionView):
    anchor = "members"

    def confirm_context(self):
        account = self.get_account()
        membership = self.get_membership(account)
        if membership.user_id == self.request.user.pk:
            return {"question": f"Leave {account.name}?",
                    "detail": "You lose what your role here gave you; to come back, an admin adds you again "
                              "or you join with an activation code.",
                    "button": f"Leave {account.name}"}
        membership.account = account
        self.require("accounts.delete_accountmembership", membership)
        return {"question": f"Remove {membership.user.email} from {account.name}?",
                "detail": f"{person_name(membership.user)} loses their {membership.role} role in {account.name}.",
                "button": "Remove the member"}

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        membership = self.get_membership(account)
        leaving = membership.user_id == request.user.pk
        if not leaving:
            self.require("accounts.delete_accountmembership", account)
        try:
            services.account_membership_delete(actor=request.user, membership=membership)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
            return self.back_to_page()
        if leaving:
            if not Account.objects.for_user(request.user).filter(pk=account.pk).exists():
                messages.success(request, f"You left {account.name}.")
                return redirect("dashboard")
            self.success(f"You left {account.name}.")
        else:
            self.success(f"{membership.user.email} is no longer a member.")
        return self.back_to_page()


class AccountUtilityCreateView(AccountActionView):
    anchor = "utilities"

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        self.require("memberships.add_utility", account)
        form = UtilityCreateForm(request.POST)
        if form.is_valid():
            try:
                utility = membership_services.utility_create(actor=request.user, account=account,
                                                             **form.cleaned_data)
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                messages.success(request, f"The utility {utility.name} is created.")
                return redirect("utility_detail", pk=utility.pk)
        return self.form_failed("utility_form", form)


class ActivationCodeRefreshView(AccountActionView):
    anchor = "activation-code"

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        self.require("accounts.change_activationcode", account)
        try:
            services.activation_code_refresh(actor=request.user, account=account)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
        else:
            self.success("A new activation code is issued; the previous one no longer works.")
        return self.back_to_page()


class AccountDeleteView(AccountMixin, TemplateView):
    with_counts = True

    """Ask, then delete the account with everything in it (account admins)."""

    template_name = "accounts/account_confirm_delete.html"

    def get_context_data(self, **kwargs):
        account = self.get_account()
        self.require("accounts.delete_account", account)
        return super().get_context_data(account=account, **kwargs)

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        self.require("accounts.delete_account", account)
        name = account.name
        try:
            services.account_delete(actor=request.user, account=account)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            messages.error(request, service_error_message(exc))
            return redirect("account_detail", pk=account.pk)
        messages.success(request, f"{name} and everything in it are deleted.")
        return redirect("dashboard")


# --------------------------------------------------------------------------- history


class AccountHistoryView(AccountMixin, TemplateView):
    """The account's audit log, newest first, 50 a page, filtered by action, object type,
    who and when; people and objects by name, fields by label, times to the second."""

    template_name = "accounts/account_history.html"

    def get_context_data(self, **kwargs):
        account = self.get_account()
        if not self.request.user.has_perm("accounts.view_auditlogentry", account):
            raise PermissionDenied("The history is for the account's admins and consultants.")
        entries = AuditLogEntry.objects.filter(account_id=account.pk)
        return super().get_context_data(account=account,
                                        is_admin=self.request.user.has_perm("accounts.change_account", account),
                                        **history_page(self.request, entries), **kwargs)


# --------------------------------------------------------------------------- personal utility


class PersonalUtilityCreateView(LoginRequiredMixin, View):
    """Create my personal utility (the dashboard's form)."""

    http_method_names = ["post"]

    def handle_no_permission(self):
        return redirect_to_login(reverse("dashboard"))

    def post(self, request, *args, **kwargs):
        form = PersonalUtilityForm(request.POST)
        if form.is_valid():
            # The service locks the user's row through `type(user)`, which is SimpleLazyObject
            # for `request.user`; hand it the concrete row.
            user = User.objects.get(pk=request.user.pk)
            try:
                utility = membership_services.personal_utility_create(
                    user=user, billing_day=form.cleaned_data["billing_day"])
            except SERVICE_ERRORS as exc:
                form.add_service_error(exc)
            else:
                say(request, messages.SUCCESS, "Your personal utility is ready.")
                return redirect("utility_detail", pk=utility.pk)
        return back_to_dashboard(request, "personal_utility_form", form, "utilities")


# --------------------------------------------------------------------------- utility history, all accounts


class UtilityHistoryView(UtilityMixin, TemplateView):
    """One utility's history: itself, its memberships, products and charges (for whoever
    reads its account's history)."""

    template_name = "memberships/utility_history.html"

    def get_context_data(self, **kwargs):
        utility = self.get_utility()
        if utility.account.is_default or not self.request.user.has_perm("accounts.view_auditlogentry",
                                                                          utility.account):
            raise PermissionDenied("The history is for the account's admins and consultants.")
        entries = utility_entries(AuditLogEntry.objects.filter(account_id=utility.account_id), utility)
        return super().get_context_data(**self.tabs_context(utility, "history"),
                                        **history_page(self.request, entries), **kwargs)


ACCOUNT_SORTS = {
    "name": ("name", "id"),
    "members": ("-member_count", "name", "id"),
    "utilities": ("-utility_count", "name", "id"),
    "created": ("-created", "-id"),
}
ACCOUNTS_PAGE_SIZE = 50


class SiteAccountsView(LoginRequiredMixin, TemplateView):
    """Every account, for site admins: search by name, sort, pages."""

    template_name = "accounts/site_accounts.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        if not user.is_superuser:
            raise PermissionDenied("The list of all accounts is for site admins.")
        query = self.request.GET.get("q", "").strip()[:100]
        sort = self.request.GET.get("sort", "name")
        sort = sort if sort in ACCOUNT_SORTS else "name"
        accounts = Account.objects.for_user(user).with_counts()
        for word in query.split()[:8]:
            accounts = accounts.filter(name__icontains=word)
        page = Paginator(accounts.order_by(*ACCOUNT_SORTS[sort]), ACCOUNTS_PAGE_SIZE).get_page(
            self.request.GET.get("page"))
        return super().get_context_data(page_obj=page, query=query, sort=sort,
                                        sort_links=sort_links(self.request, ACCOUNT_SORTS, sort), **kwargs)
