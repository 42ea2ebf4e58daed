"""The portal's forms for utilities and memberships. They validate input only; views write
through `memberships.services`."""

from django import forms
from django.core.exceptions import ValidationError

from accounts.forms import ServiceErrorsMixin
from accounts.models import User
from memberships.models import Membership, Utility


def _utility_formfield(name, **kwargs):
    return Utility._meta.get_field(name).formfield(**kwargs)


class UtilityCreateForm(ServiceErrorsMixin, forms.Form):
    name = _utility_formfield("name")
    billing_day = _utility_formfield("billing_day", min_value=1, max_value=28,
                                     help_text="The day of the month billing starts (1 to 28).")
    subscriber_seats = _utility_formfield("subscriber_seats", label="Subscriber seats",
                                          help_text="Empty: unlimited.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "utility-%s")
        super().__init__(*args, **kwargs)


class UtilitySettingsForm(UtilityCreateForm):
    """Rename and seats for utility admins; the billing day only for the account's admins."""

    field_order = ["name", "subscriber_seats", "billing_day"]

    def __init__(self, *args, can_change_billing_day: bool, **kwargs):
        kwargs.setdefault("auto_id", "settings-%s")
        super().__init__(*args, **kwargs)
        if not can_change_billing_day:
            # A disabled field keeps its initial value whatever is posted.
            self.fields["billing_day"].disabled = True
            self.fields["billing_day"].help_text = "Only the account's admins change the billing day."

    @classmethod
    def initial_for(cls, utility: Utility) -> dict:
        return {"name": utility.name, "subscriber_seats": utility.subscriber_seats,
                "billing_day": utility.billing_day}


class PersonalUtilityForm(ServiceErrorsMixin, forms.Form):
    billing_day = _utility_formfield("billing_day", min_value=1, max_value=28, initial=1,
                                     help_text="The day of the month billing starts (1 to 28).")

    service_default_field = "billing_day"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "personal-%s")
        super().__init__(*args, **kwargs)


class MembershipAddForm(ServiceErrorsMixin, forms.Form):
    email = forms.EmailField(label="Email of the person to add", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.SPECTATOR)
    is_subscriber = forms.BooleanField(label="Subscriber", required=False)

    service_fields = {"user": "email"}
    service_default_field = "email"

    def __init__(self, *args, actor, **kwargs):
        kwargs.setdefault("auto_id", "membership-%s")
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        # Only people the admin already sees (shared accounts and utilities, contacts), as in the API.
        self.user = User.objects.for_user(self.actor).filter(email__iexact=email).first()
        if self.user is None:
            raise ValidationError("No user you know has this email. Add them to your contacts first.",
                                  code="invalid")
        return email


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class SubscriberForm(forms.Form):
    is_subscriber = forms.TypedChoiceField(choices=[("true", "Subscribe"), ("false", "Unsubscribe")],
                                           coerce=lambda value: value == "true")
