"""The portal's account pages: sign in and out, password reset, sign-up, dashboard, profile.

Reads go through `for_user()`; every write goes through `accounts.services`, and the
errors they raise are shown next to the form field they are about.
"""

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView, TemplateView

from accounts import services
from accounts.api.views import ContactLookupThrottle
from accounts.forms import (
    AvatarForm,
    ContactAddForm,
    EmailChangeForm,
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    ProfileForm,
    SetPasswordForm,
    SignupForm,
)
from accounts.models import Avatar, BrowserSession, Contact, Session, normalize_email
from core.errors import Forbidden
from core.limits import Limit
from core.middleware import EXPIRED_FLAG
from core.net import client_ip
from core.portal import SERVICE_ERRORS, say, stash_form, unstash_form
from jsonapi.middleware import jsonapi_error_response

# What a service may raise for a refused write; anything else is a bug and stays a 500.



# --------------------------------------------------------------------------- lockout


def _cool_off_minutes(request) -> int | None:
    """Minutes a locked-out pair waits (AXES_COOLOFF_TIME, rounded up); None: until unlocked."""
    cool_off = get_cool_off(request)
    if not cool_off:
        return None
    return max(1, -(-int(cool_off.total_seconds()) // 60))


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE).

    The API answers sign-in attempts itself (JSON:API 401 or 429), so its response
    passes through unchanged; portal and admin pages get a page saying how long to wait.
    """
    if request.path.startswith("/api/"):
        if isinstance(original_response, HttpResponseBase):  # not the credentials dict of a 2-argument call
            return original_response
        return jsonapi_error_response(429, "too_many_attempts", "Too many failed sign-ins; try again later.")
    context = {
        "cool_off_minutes": _cool_off_minutes(request),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "accounts/lockout.html", context, status=429)


# --------------------------------------------------------------------------- signing in and out


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        if request.session.pop(EXPIRED_FLAG, False):
            messages.info(request, "You were signed out after a while without activity; sign in again.")
        return super().get(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("login")

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have signed out.")
        return response


def _over_limit(request, form, scope: str, email: str) -> bool:
    """Count a mail to `email` asked for from this client; when either is over its limit
    (ROSTER_LIMITS[f"{scope}_client"], [f"{scope}_address"]) the form says so and nothing
    is sent. Registered or not, an address is counted alike, so the answer tells nothing."""
    by_client = Limit(f"{scope}_client").hit(client_ip(request))
    by_address = Limit(f"{scope}_address").hit(normalize_email(email))
    if by_client and by_address:
        return False
    form.add_error(None, "Too many requests from here or for this address; try again in an hour.")
    return True


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"

    def form_valid(self, form):
        if _over_limit(self.request, form, "password_reset", form.cleaned_data["email"]):
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm
    template_name = "accounts/password_reset_confirm.html"


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@method_decorator(sensitive_post_parameters("password1", "password2"), name="dispatch")
class SignupView(FormView):
    """Open sign-up, when the site allows it (ROSTER_SIGNUP_ENABLED); 404 otherwise."""

    form_class = SignupForm
    template_name = "accounts/signup.html"
    success_url = reverse_lazy("dashboard")

    def dispatch(self, request, *args, **kwargs):
        if not settings.ROSTER_SIGNUP_ENABLED:
            raise Http404("Sign-up is closed on this site.")
        if request.user.is_authenticated:
            return redirect("dashboard")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        # The same page whether or not the address is registered (SPEC §1): a new one gets a
        # verification link, a registered one a notice to its owner; nobody is signed in here.
        data = form.cleaned_data
        if _over_limit(self.request, form, "signup", data["email"]):
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        try:
            services.user_signup(
                email=data["email"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
        except SERVICE_ERRORS as exc:
            form.add_service_error(exc)
            return self.form_invalid(form)
        return render(self.request, "accounts/signup_done.html", {"email": data["email"]})


class EmailVerifyView(View):
    """The link mailed to an address. Opening it confirms nothing: the account it was made
    for confirms with a POST, signed in. So a link followed by someone else, or by a mail
    scanner, cannot verify an address for whoever signed up with it."""

    template_name = "accounts/email_verify.html"

    def get(self, request, token):
        try:
            user_id = services.email_verification_user_id(token=token)
        except SERVICE_ERRORS as exc:
            return render(request, self.template_name, {"error": exc}, status=400)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.user.pk != user_id:
            return render(request, self.template_name, {"wrong_account": True}, status=403)
        return render(request, self.template_name, {"confirm": True})

    def post(self, request, token):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            user = services.email_verify(token=token, actor=request.user)
        except Forbidden:
            return render(request, self.template_name, {"wrong_account": True}, status=403)
        except SERVICE_ERRORS as exc:
            return render(request, self.template_name, {"error": exc}, status=400)
        return render(request, self.template_name, {"verified_email": user.email})


# --------------------------------------------------------------------------- profile


class ProfileView(LoginRequiredMixin, TemplateView):
    """My profile: names, email, avatar, contacts and sessions, each with its own form.

    The forms post to their own addresses; on an error those views render this page
    again with their bound form, so the error shows next to the field.
    """

    template_name = "accounts/user_profile.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        kwargs.setdefault("profile_form", ProfileForm(
            initial={"first_name": user.first_name, "last_name": user.last_name, "username": user.username}
        ))
        kwargs.setdefault("email_form", EmailChangeForm())
        kwargs.setdefault("avatar_form", AvatarForm())
        kwargs.setdefault("contact_form", ContactAddForm())
        for name, form_class in (("profile_form", ProfileForm), ("email_form", EmailChangeForm),
                                 ("avatar_form", AvatarForm), ("contact_form", ContactAddForm)):
            stashed = unstash_form(self.request, name, form_class)
            if stashed is not None:
                kwargs[name] = stashed
        current_key = self.request.session.session_key
        browsers = list(BrowserSession.objects.for_user(user))
        for browser in browsers:
            browser.is_current = browser.session_key == current_key
        return super().get_context_data(
            has_avatar=Avatar.objects.filter(user=user).exists(),
            contacts=Contact.objects.for_user(user).select_related("contact"),
            sessions=Session.objects.for_user(user),
            browsers=browsers,
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.user_update(actor=request.user, user=request.user, data=form.cleaned_data)
            except SERVICE_ERRORS as exc:
                form.add_service_error(exc)
            else:
                say(request, messages.SUCCESS, "Your profile is saved.", section="profile")
                return redirect(reverse("profile") + "#profile")
        stash_form(request, "profile_form", form)
        return redirect(reverse("profile") + "#profile")


class ProfileActionView(LoginRequiredMixin, View):
    """A form of the profile page that posts to its own address and goes back to the page's
    section (`anchor`): a message there says how it went; a form that did not validate is
    shown there again with its errors (PRG). A GET asks first (`confirm_context`)."""

    http_method_names = ["get", "post"]
    anchor = ""
    #: fields never kept between the POST and the page showing its errors
    secret_fields = ()

    def handle_no_permission(self):
        # After signing in, come back to the page itself.
        return redirect_to_login(reverse("profile"))

    def get(self, request, *args, **kwargs):
        context = self.confirm_context()
        if context is None:
            return self.http_method_not_allowed(request, *args, **kwargs)
        context.setdefault("cancel_url", reverse("profile") + f"#{self.anchor}")
        context.setdefault("action_url", request.path)
        return render(request, "portal/confirm.html", context)

    def confirm_context(self) -> dict | None:
        return None

    def say(self, level, text):
        say(self.request, level, text, section=self.anchor)

    def render_profile(self, **forms):
        """Back to the profile (PRG), where the form shows its errors."""
        for name, form in forms.items():
            stash_form(self.request, name, form, page=reverse("profile"), secret_fields=self.secret_fields)
        return self.back_to_profile()

    def back_to_profile(self):
        return redirect(reverse("profile") + (f"#{self.anchor}" if self.anchor else ""))


@method_decorator(sensitive_post_parameters("current_password"), name="dispatch")
class EmailChangeView(ProfileActionView):
    anchor = "email"
    secret_fields = ("current_password",)

    def post(self, request, *args, **kwargs):
        form = EmailChangeForm(request.POST)
        if form.is_valid():
            try:
                user = services.user_update(
                    actor=request.user,
                    user=request.user,
                    data={"email": form.cleaned_data["email"]},
                    current_password=form.cleaned_data["current_password"],
                    request=request,
                )
            except SERVICE_ERRORS as exc:
                form.add_service_error(exc)
            else:
                self.say(messages.SUCCESS, f"We sent a link to {form.cleaned_data['email']}; your email changes "
                                          f"when you open it. Until then you sign in with {user.email}.")
                return self.back_to_profile()
        return self.render_profile(email_form=form)


class AvatarUploadView(ProfileActionView):
    anchor = "avatar"

    def post(self, request, *args, **kwargs):
        form = AvatarForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["image"]
            # One byte past the limit is enough for the service to refuse an oversized file.
            data = upload.read(settings.ROSTER_AVATAR_MAX_BYTES + 1)
            try:
                services.avatar_set(user=request.user, data=data, content_type=upload.content_type)
            except SERVICE_ERRORS as exc:
                form.add_service_error(exc)
            else:
                self.say(messages.SUCCESS, "Your picture is updated.")
                return self.back_to_profile()
        return self.render_profile(avatar_form=form)


class AvatarResetView(ProfileActionView):
    anchor = "avatar"

    def post(self, request, *args, **kwargs):
        services.avatar_delete(user=request.user)
        self.say(messages.SUCCESS, "Your picture is reset to the generated one.")
        return self.back_to_profile()


class ContactAddView(ProfileActionView):
    anchor = "contacts"

    def post(self, request, *args, **kwargs):
        form = ContactAddForm(request.POST)
        # The API's per-caller throttle, shared with it: the address book is no way to test
        # a list of addresses (SPEC §3 Contacts).
        form.throttled = not ContactLookupThrottle().allow_request(request, self)
        if form.is_valid():
            try:
                contact = services.contact_create(owner=request.user, contact=form.contact)
            except SERVICE_ERRORS as exc:
                form.add_service_error(exc)
            else:
                self.say(messages.SUCCESS, f"{contact.contact.email} is in your contacts.")
                return self.back_to_profile()
        return self.render_profile(contact_form=form)


class ContactRemoveView(ProfileActionView):
    anchor = "contacts"

    def confirm_context(self):
        contact = get_object_or_404(Contact.objects.for_user(self.request.user).select_related("contact"),
                                    pk=self.kwargs["pk"])
        return {"question": f"Remove {contact.contact.email} from your contacts?",
                "detail": "They are not told; you can add them again later.", "button": "Remove the contact"}

    def post(self, request, pk, *args, **kwargs):
        contact = get_object_or_404(Contact.objects.for_user(request.user).select_related("contact"), pk=pk)
        email = contact.contact.email
        services.contact_delete(owner=request.user, contact=contact)
        self.say(messages.SUCCESS, f"{email} is no longer in your contacts.")
        return self.back_to_profile()


class SessionRevokeView(ProfileActionView):
    anchor = "sessions"

    def confirm_context(self):
        session = get_object_or_404(Session.objects.for_user(self.request.user), pk=self.kwargs["pk"])
        return {"question": "Revoke this API session?",
                "detail": f"The token of {session.user_agent or 'an unknown client'} (created "
                          f"{session.created:%Y-%m-%d %H:%M} UTC) stops working at once.",
                "button": "Revoke the session"}

    def post(self, request, pk, *args, **kwargs):
        session = get_object_or_404(Session.objects.for_user(request.user), pk=pk)
        services.session_delete(session=session)
        self.say(messages.SUCCESS, "The session is revoked; its token no longer works.")
        return self.back_to_profile()


class BrowserSessionRevokeView(ProfileActionView):
    """Sign one of my browsers out (not this one: that is "Sign out")."""

    anchor = "browsers"

    def get_browser(self):
        return get_object_or_404(BrowserSession.objects.for_user(self.request.user), pk=self.kwargs["pk"])

    def confirm_context(self):
        browser = self.get_browser()
        return {"question": "Sign this browser out?",
                "detail": f"{browser.user_agent or 'An unknown browser'}, signed in on "
                          f"{browser.created:%Y-%m-%d %H:%M} UTC from {browser.ip_address or 'an unknown address'}, "
                          f"is signed out at its next page.",
                "button": "Sign it out"}

    def post(self, request, pk, *args, **kwargs):
        browser = self.get_browser()
        if browser.session_key == request.session.session_key:
            self.say(messages.ERROR, "That is this browser: use Sign out at the top of the page.")
            return self.back_to_profile()
        services.browser_session_end(actor=request.user, browser=browser)
        self.say(messages.SUCCESS, "That browser is signed out.")
        return self.back_to_profile()


class SignOutEverywhereView(ProfileActionView):
    """End every browser session and API token of mine, this browser's included."""

    anchor = "browsers"

    def confirm_context(self):
        return {"question": "Sign out everywhere?",
                "detail": "Every browser signed in as you, this one included, is signed out, and every API token "
                          "you issued stops working. Sign in again with your password.",
                "button": "Sign out everywhere"}

    def post(self, request, *args, **kwargs):
        user = request.user
        browsers, tokens = services.sign_out_everywhere(actor=user)
        logout(request)
        messages.success(request, f"You are signed out everywhere: {browsers} browser session{pluralize(browsers)} "
                                  f"and {tokens} API token{pluralize(tokens)} ended.")
        return redirect("login")


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("profile")

    def form_valid(self, form):
        try:
            user = form.save(request=self.request)
        except SERVICE_ERRORS as exc:
            form.add_service_error(exc)
            return self.form_invalid(form)
        # A new password invalidates other browser sessions; keep this one signed in.
        old_key = self.request.session.session_key
        update_session_auth_hash(self.request, user)
        services.browser_session_rekey(old_key=old_key, new_key=self.request.session.session_key)
        messages.success(self.request, "Your password is changed. Your API sessions were ended.")
        return redirect(self.get_success_url())
