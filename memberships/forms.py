"""The portal's forms for utilities and memberships. They validate input only; views write
through `memberships.services`."""

from django import forms

from accounts.forms import MemberByEmailForm, ServiceErrorsMixin
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


class MembershipAddForm(MemberByEmailForm):
    add_permission = "memberships.add_membership"
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.SPECTATOR)
    is_subscriber = forms.BooleanField(label="Subscriber", required=False)

    id_prefix = "membership"


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class SubscriberForm(forms.Form):
    is_subscriber = forms.TypedChoiceField(choices=[("true", "Subscribe"), ("false", "Unsubscribe")],
                                           coerce=lambda value: value == "true")
