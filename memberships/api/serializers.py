"""JSON:API shapes of memberships: validation only."""

from rest_framework import serializers

from accounts.api.serializers import AddableUserField
from accounts.models import Account
from jsonapi.planning import VisibleRelatedField
from jsonapi.serializers import (
    ModelSerializer,
    ParentRelatedField,
    ResourceRelatedField,
    StrictBooleanField,
    StrictIntegerField,
)
from memberships.models import Membership, Utility


class UtilitySerializer(ModelSerializer):
    name = serializers.CharField(max_length=200)
    billing_day = StrictIntegerField(min_value=1, max_value=28)
    subscriber_seats = StrictIntegerField(min_value=0, max_value=2_147_483_647, required=False, allow_null=True)
    is_personal = serializers.BooleanField(read_only=True)
    account = ParentRelatedField(queryset=Account.objects.all())
    memberships = VisibleRelatedField(many=True, model=Membership, unbounded=True)
    # Named by dotted strings: billing is a higher layer than memberships (DESIGN.md, Layout).
    products = VisibleRelatedField(many=True, model="billing.Product", unbounded=True)

    included_serializers = {
        "account": "accounts.api.serializers.AccountSerializer",
        "memberships": "memberships.api.serializers.MembershipSerializer",
        "products": "billing.api.serializers.ProductSerializer",
    }

    class Meta:
        model = Utility
        fields = ["name", "billing_day", "is_personal", "subscriber_seats", "created", "account", "memberships",
                  "products"]
        read_only_fields = ["created"]
        fixed_fields = ["account"]
        validators = []


class PersonalUtilitySerializer(UtilitySerializer):
    """POST /utilities/personal/ takes only the billing day; the server names and places it."""

    name = serializers.CharField(read_only=True)
    subscriber_seats = serializers.IntegerField(read_only=True, allow_null=True)
    account = ResourceRelatedField(read_only=True)

    class Meta(UtilitySerializer.Meta):
        fixed_fields = []


class MembershipSerializer(ModelSerializer):
    is_subscriber = StrictBooleanField()
    is_subscriber_datetime = serializers.DateTimeField(read_only=True)
    role = serializers.ChoiceField(choices=Membership.Role.choices, required=False)
    # The view checks the utility before this is looked up.
    user = AddableUserField(add_permission="memberships.add_membership")
    utility = ParentRelatedField(queryset=Utility.objects.all())

    included_serializers = {
        "user": "accounts.api.serializers.UserSerializer",
        "utility": UtilitySerializer,
    }

    class Meta:
        model = Membership
        fields = ["is_subscriber", "is_subscriber_datetime", "role", "created", "user", "utility"]
        read_only_fields = ["created"]
        fixed_fields = ["user", "utility"]
        validators = []
