"""The JSON:API face of memberships. Views call services."""

from django.db.models import Prefetch
from rest_framework import mixins

from accounts.models import Account
from rest_framework.permissions import IsAuthenticated

from config.errors import Forbidden
from config.viewsets import RosterViewSet
from memberships import services
from memberships.api.serializers import AccountMembershipSerializer
from memberships.filtersets import AccountMembershipFilterSet
from memberships.models import AccountMembership
from memberships.permissions import AccountMembershipPermission, is_account_admin


class AccountMembershipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    RosterViewSet,
):
    queryset = AccountMembership.objects.all()
    serializer_class = AccountMembershipSerializer
    filterset_class = AccountMembershipFilterSet
    permission_classes = [IsAuthenticated, AccountMembershipPermission]
    ordering_fields = ["created", "role"]
    select_for_includes = {"user": ["user"]}
    prefetch_for_includes = {
        "user": ["user__roles"],
        "account": [Prefetch("account", queryset=Account.objects.with_counts().prefetch_related(
            "account_roles", "account_memberships"))],
    }

    def perform_create(self, serializer):
        data = serializer.validated_data
        if not is_account_admin(self.request.user, data["account"]):
            raise Forbidden("Only the account's admins add members.")
        serializer.instance = services.account_membership_create(
            actor=self.request.user,
            user=data["user"],
            account=data["account"],
            role=data.get("role", AccountMembership.Role.USER),
        )

    def perform_update(self, serializer):
        role = serializer.validated_data.get("role", serializer.instance.role)
        serializer.instance = services.account_membership_update(
            actor=self.request.user, membership=serializer.instance, role=role
        )

    def perform_destroy(self, instance):
        services.account_membership_delete(actor=self.request.user, membership=instance)
