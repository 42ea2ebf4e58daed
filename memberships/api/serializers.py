"""JSON:API shapes of memberships: validation only."""

from rest_framework import serializers

from accounts.models import Account, User
from config.api import ModelSerializer, ParentRelatedField, VisibleResourceRelatedField
from memberships.models import AccountMembership


class AccountMembershipSerializer(ModelSerializer):
    role = serializers.ChoiceField(choices=AccountMembership.Role.choices, required=False)
    user = VisibleResourceRelatedField(queryset=User.objects.all())
    account = ParentRelatedField(queryset=Account.objects.all())

    included_serializers = {
        "user": "accounts.api.serializers.UserSerializer",
        "account": "accounts.api.serializers.AccountSerializer",
    }

    class Meta:
        model = AccountMembership
        fields = ["role", "created", "user", "account"]
        read_only_fields = ["created"]
        fixed_fields = ["user", "account"]
        validators = []  # one membership per pair is the service's rule: 409 duplicate, not 400
