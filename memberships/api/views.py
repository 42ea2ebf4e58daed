"""The JSON:API face of account memberships, utilities and memberships. Views call services."""

from django.db.models import Prefetch
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.selectors import account_prefetches, user_prefetches, utility_prefetches
from jsonapi.errors import ApiError
from core.errors import Forbidden
from jsonapi.viewsets import RosterModelViewSet
from memberships import services
from memberships.api.serializers import (
    AccountMembershipSerializer,
    MembershipSerializer,
    PersonalUtilitySerializer,
    UtilitySerializer,
)
from memberships.filtersets import AccountMembershipFilterSet, MembershipFilterSet, UtilityFilterSet
from memberships.models import AccountMembership, Membership, Utility
from memberships.permissions import (
    AccountMembershipPermission,
    MembershipPermission,
    UtilityPermission,
    is_account_admin,
    is_utility_admin,
)


class AccountMembershipViewSet(RosterModelViewSet):
    queryset = AccountMembership.objects.all()
    serializer_class = AccountMembershipSerializer
    filterset_class = AccountMembershipFilterSet
    permission_classes = [IsAuthenticated, AccountMembershipPermission]
    ordering_fields = ["created", "role"]
    select_for_includes = {"user": ["user"]}
    scoped_prefetches = {"account": account_prefetches, "user": user_prefetches}
    error_statuses = {"delete": (409,)}  # last_admin: the last admin of an account stays

    parent_field = "account"

    def check_parent(self, account):
        if not is_account_admin(self.request.user, account):
            raise Forbidden("Only the account's admins add members.")

    def perform_create(self, serializer):
        data = serializer.validated_data
        self.check_parent(data["account"])
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


def _visible_memberships(request, lookup="memberships"):
    return Prefetch(lookup, queryset=Membership.objects.for_user(request.user).order_by("id"),
                    to_attr="visible_memberships")


class UtilityViewSet(RosterModelViewSet):
    queryset = Utility.objects.all()
    serializer_class = UtilitySerializer
    filterset_class = UtilityFilterSet
    permission_classes = [IsAuthenticated, UtilityPermission]
    ordering_fields = ["name", "billing_day", "created"]
    ordering = ("name", "id")
    scoped_prefetches = {"account": account_prefetches}

    def get_queryset(self):
        queryset = super().get_queryset().prefetch_related(_visible_memberships(self.request))
        if "account" in self.request.query_params.get("include", "").split(","):
            return queryset  # the include's scoped prefetch brings the account (a join would void it)
        return queryset.select_related("account")

    def _fresh(self, utility):
        return self.get_queryset().get(pk=utility.pk)

    parent_field = "account"

    def check_parent(self, account):
        if not is_account_admin(self.request.user, account):
            raise Forbidden("Only the account's admins create utilities.")

    def perform_create(self, serializer):
        data = serializer.validated_data
        self.check_parent(data["account"])
        utility = services.utility_create(actor=self.request.user, account=data["account"], name=data["name"],
                                          billing_day=data["billing_day"],
                                          subscriber_seats=data.get("subscriber_seats"))
        serializer.instance = self._fresh(utility)

    def perform_update(self, serializer):
        utility = services.utility_update(actor=self.request.user, utility=serializer.instance,
                                          data=dict(serializer.validated_data))
        serializer.instance = self._fresh(utility)

    def perform_destroy(self, instance):
        services.utility_delete(actor=self.request.user, utility=instance)

    @action(detail=False, methods=["get", "post", "delete"], url_path="personal",
            serializer_class=PersonalUtilitySerializer, post_creates=True)
    def personal(self, request):
        """The caller's personal utility in the default account."""
        if request.method == "POST":
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            utility = services.personal_utility_create(user=request.user,
                                                       billing_day=serializer.validated_data["billing_day"])
            return Response(self.get_serializer(self._fresh(utility)).data, status=status.HTTP_201_CREATED)
        if request.method == "DELETE":
            services.personal_utility_delete(user=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        utility = Utility.objects.filter(personal_owner=request.user).prefetch_related(
            _visible_memberships(request)).first()
        if utility is None:
            raise ApiError("You have no personal utility; POST one here.", status_code=404)
        return Response(self.get_serializer(utility).data)


class MembershipViewSet(RosterModelViewSet):
    queryset = Membership.objects.all()
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilterSet
    permission_classes = [IsAuthenticated, MembershipPermission]
    ordering_fields = ["created", "role", "is_subscriber", "is_subscriber_datetime"]
    ordering = ("-id",)
    select_for_includes = {"user": ["user"]}

    def get_queryset(self):
        queryset = super().get_queryset()
        # Lists render ids only; a single membership needs its utility and account for the rules.
        return queryset if self.action == "list" else queryset.select_related("utility__account")
    scoped_prefetches = {"utility": utility_prefetches, "user": user_prefetches}

    parent_field = "utility"

    def check_parent(self, utility):
        if not is_utility_admin(self.request.user, utility):
            raise Forbidden("Only the utility's admins add members.")

    def perform_create(self, serializer):
        data = serializer.validated_data
        self.check_parent(data["utility"])
        serializer.instance = services.membership_create(
            actor=self.request.user, user=data["user"], utility=data["utility"],
            is_subscriber=data["is_subscriber"], role=data.get("role", Membership.Role.SPECTATOR),
        )

    def perform_update(self, serializer):
        serializer.instance = services.membership_update(
            actor=self.request.user, membership=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        services.membership_delete(actor=self.request.user, membership=instance)
