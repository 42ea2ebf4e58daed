"""The portal's forms. They validate input only; views write through `accounts.services`."""

from django import forms
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts import services
from accounts.models import User
from core.errors import ServiceError


class ServiceErrorsMixin:
    """Put errors raised by a service next to the form field they are about.

    `service_fields` maps a service's field name (`ServiceError.field`, or a key of a
    Django `ValidationError` dict) onto this form's field; names the form has itself map
    onto themselves. `service_default_field` takes errors that name no field (a form with
    one input shows them there); otherwise they become non-field errors.
    """

    service_fields: dict[str, str] = {}
    service_default_field: str | None = None
    # The services word some messages for API clients (`currentPassword`); people read these.
    service_messages = {
        ("current_password", "required"): "Enter your current password.",
        ("current_password", "invalid"): "Your current password is wrong.",
    }

    def _target_field(self, service_field):
        if service_field in (None, NON_FIELD_ERRORS):
            return self.service_default_field
        name = self.service_fields.get(service_field, service_field)
        return name if name in self.fields else self.service_default_field

    def add_service_error(self, exc: Exception) -> None:
        if isinstance(exc, ServiceError):
            message = self.service_messages.get((exc.field, exc.code), exc.detail)
            self.add_error(self._target_field(exc.field), ValidationError(message, code=exc.code))
        elif isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                self.add_error(self._target_field(field), errors)
        elif isinstance(exc, ValidationError):
            self.add_error(self.service_default_field, exc.error_list)
        else:
            raise TypeError(f"Not a service error: {exc!r}")


# --------------------------------------------------------------------------- signing in


class LoginForm(auth_forms.AuthenticationForm):
    """Django's login form; the backend takes an email or a username in `username`."""

    username = auth_forms.UsernameField(
        label="Email or username",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    error_messages = {
        **auth_forms.AuthenticationForm.error_messages,
        "invalid_login": "The email/username or password is wrong.",
    }


class SignupForm(ServiceErrorsMixin, forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    first_name = forms.CharField(max_length=150, required=False,
                                 widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(max_length=150, required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    password1 = forms.CharField(label="Password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="Password (again)", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    service_fields = {"password": "password1"}

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", ValidationError("The two passwords differ.", code="password_mismatch"))
        return cleaned


class PasswordResetForm(auth_forms.PasswordResetForm):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email",
                                                                             "autofocus": True}))

    def get_users(self, email):
        """Active local users of that address, however it was spelled (Django's own lookup
        compares the typed text and would miss a Unicode spelling of an IDNA domain)."""
        return (user for user in User.objects.with_email(email).filter(is_active=True)
                if user.has_usable_password())


class SetPasswordForm(auth_forms.SetPasswordForm):
    """Set a new password from a reset link (the link is the proof), ending every session."""

    def save(self, commit=True):
        if commit:
            self.user = services.user_reset_password(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


# --------------------------------------------------------------------------- profile


def _user_formfield(name, **kwargs):
    return User._meta.get_field(name).formfield(**kwargs)


class ProfileForm(ServiceErrorsMixin, forms.Form):
    # A plain Form, not a ModelForm: a ModelForm would write the cleaned values into
    # request.user before the service has accepted them.
    first_name = _user_formfield("first_name", widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = _user_formfield("last_name", widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    username = _user_formfield("username", widget=forms.TextInput(attrs={"autocomplete": "username"}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "profile-%s")
        super().__init__(*args, **kwargs)


class EmailChangeForm(ServiceErrorsMixin, forms.Form):
    email = forms.EmailField(label="New email", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    current_password = forms.CharField(
        label="Current password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "email-%s")
        super().__init__(*args, **kwargs)


class PasswordChangeForm(ServiceErrorsMixin, auth_forms.PasswordChangeForm):
    """Django's form for the checks; saving goes through `services.user_update`."""

    service_fields = {"current_password": "old_password", "password": "new_password2"}

    def clean_old_password(self):
        # The service checks it, so a wrong one counts towards the sign-in lockout.
        return self.cleaned_data["old_password"]

    def save(self, commit=True, request=None):
        return services.user_update(
            actor=self.user,
            user=self.user,
            data={"password": self.cleaned_data["new_password1"]},
            current_password=self.cleaned_data["old_password"],
            request=request,
        )


class AvatarForm(ServiceErrorsMixin, forms.Form):
    image = forms.FileField(
        label="New picture",
        help_text="A PNG or JPEG image, at most 1 MiB.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg"}),
    )

    service_default_field = "image"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "avatar-%s")
        super().__init__(*args, **kwargs)


class ContactAddForm(ServiceErrorsMixin, forms.Form):
    email = forms.EmailField(label="Email of the person to add", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))

    service_fields = {"contact": "email"}
    service_default_field = "email"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "contact-%s")
        super().__init__(*args, **kwargs)

    #: set by the view when the caller's lookups are spent (the API's throttle, shared)
    throttled = False

    def clean_email(self):
        email = self.cleaned_data["email"]
        if self.throttled:
            raise ValidationError("Too many lookups; try again later.", code="too_many_attempts")
        # The API looks contacts up the same way (any active user, the address normalised).
        self.contact = User.objects.with_email(email).filter(is_active=True).first()
        if self.contact is None:
            raise ValidationError("No user has this email.", code="invalid")
        return email


class MemberByEmailForm(ServiceErrorsMixin, forms.Form):
    """Add a person to an account or utility by email; the view's subclass adds the role fields."""

    email = forms.EmailField(label="Email of the person to add", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))

    service_fields = {"user": "email"}
    service_default_field = "email"
    id_prefix = "member"
    #: the global permission that lets an admin add anyone (SPEC §1); subclasses name theirs
    add_permission = None

    def __init__(self, *args, actor, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)
        self.actor = actor

    #: what the page says after adding or inviting: the same either way (SPEC §1)
    done_message = "{email} is added, or invited by email when they are not someone you can add directly."

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        # People the admin may add directly (those they share an account or utility with) are
        # added; anyone else is invited (`self.user` None), and the page says the same.
        self.user = User.objects.addable_by(self.actor, self.add_permission).with_email(email).first()
        return email
