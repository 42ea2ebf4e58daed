"""The JSON:API face of users, sessions, roles and contacts. Views call services."""

import hashlib

from django.apps import apps
from django.contrib.auth.models import AnonymousUser, Permission
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from guardian.shortcuts import get_perms
from rest_framework import mixins, renderers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotAcceptable
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from accounts import selectors, services
from accounts.api.serializers import (
    AccountMembershipSerializer,
    AccountRoleSerializer,
    AccountSerializer,
    ActivationCodeSerializer,
    ActivationSerializer,
    AuditLogEntrySerializer,
    ContactSerializer,
    InvitationSerializer,
    PermissionSetSerializer,
    RoleSerializer,
    SessionSerializer,
    UserSerializer,
)
from accounts.filtersets import (
    AccountFilterSet,
    AccountMembershipFilterSet,
    AuditLogEntryFilterSet,
    RoleFilterSet,
    UserFilterSet,
)
from accounts.models import (
    Account,
    AccountMembership,
    AccountRole,
    AuditLogEntry,
    Contact,
    Invitation,
    Role,
    Session,
    User,
)
from accounts.rules import remember_caller_roles, with_caller_roles
from core import rules
from core.errors import Forbidden, NotFound, Unauthorized
from jsonapi.errors import ApiError
from jsonapi.negotiation import MEDIA_TYPE
from jsonapi.query import is_id_text
from jsonapi.renderers import JSONAPIRenderer
from jsonapi.schema import ID_PATTERN
from jsonapi.viewsets import (
    CreateModelMixin,
    ListModelMixin,
    RetrieveModelMixin,
    RosterAPIView,
    RosterModelViewSet,
    RosterViewSet,
)


class UserViewSet(RosterModelViewSet):
    queryset = User.objects.all()
    serializer_class = UserSerializer
    filterset_class = UserFilterSet
    create_permission = "accounts.add_user"
    ordering_fields = ["email", "username", "first_name", "last_name", "date_joined", "last_login"]
    error_statuses = {"delete": (409,)}  # last_admin: the last admin of an account stays
    prefetch_for_includes = {
        "__all__": ["roles"],
        "roles": [Prefetch("roles__permissions", queryset=Permission.objects.select_related("content_type"))],
    }

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.user_create(
            actor=self.request.user,
            email=data["email"],
            password=data.get("password"),
            username=data.get("username"),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            strategy=data.get("strategy", User.Strategy.LOCAL),
            is_active=data.get("is_active", True),
            roles=data.get("roles"),
        )
        # Read back as the caller sees it; a creator who does not share a space with the new
        # user still gets the document (its relationships hold what they may see: nothing).
        serializer.instance = self.get_queryset().filter(pk=serializer.instance.pk).first() or serializer.instance

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        current_password = data.pop("current_password", None)
        serializer.instance = services.user_update(
            actor=self.request.user,
            user=serializer.instance,
            data=data,
            current_password=current_password,
            keep_session=self.request.auth if isinstance(self.request.auth, Session) else None,
            request=self.request,
        )
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        services.user_delete(actor=self.request.user, user=instance)

    def _me(self):
        return self.get_queryset().get(pk=self.request.user.pk)

    @action(detail=False, methods=["get", "patch", "delete"], url_path="me")
    def me(self, request):
        """The caller: read, change, or delete oneself."""
        self.kwargs[self.lookup_field] = str(request.user.pk)
        if request.method == "PATCH":
            return self.partial_update(request)
        if request.method == "DELETE":  # only an explicit DELETE deletes (HEAD is a GET)
            services.user_delete(actor=request.user, user=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self.retrieve(request)

    def get_object(self):
        if self.action == "me":
            obj = self._me()
            if self.request.method == "PATCH":
                self.check_object_permissions(self.request, obj)
            return obj
        return super().get_object()

    def check_object_permissions(self, request, obj):
        if self.action == "destroy" and not request.user.has_perm("accounts.delete_user", obj):
            raise Forbidden("Only site admins delete other users; delete yourself through /users/me/.")
        super().check_object_permissions(request, obj)


class ImageRenderer(renderers.BaseRenderer):
    media_type = "image/*"
    format = "image"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def _accepts(request, content_type) -> bool:
    header = request.META.get("HTTP_ACCEPT", "").strip() or "*/*"
    wanted = {part.split(";")[0].strip().lower() for part in header.split(",")}
    return bool(wanted & {"*/*", "image/*", content_type})


IMAGE = OpenApiTypes.BINARY
IMAGE_RESPONSES = {(200, "image/png"): IMAGE, (200, "image/jpeg"): IMAGE}


@extend_schema_view(
    get=extend_schema(summary="The avatar image (a generated one when none was uploaded)",
                      responses=IMAGE_RESPONSES),
    put=extend_schema(summary="Upload one's own avatar: a raw PNG or JPEG body up to 1 MiB",
                      request={"image/png": IMAGE, "image/jpeg": IMAGE}, responses=IMAGE_RESPONSES),
    delete=extend_schema(summary="Reset one's own avatar to the generated one", responses={204: None}),
)
class AvatarView(RosterAPIView):
    """GET a user's avatar (generated when none was uploaded); PUT or DELETE one's own."""

    renderer_classes = [ImageRenderer, JSONAPIRenderer]
    resource_name = "Avatar"
    # PUT takes the raw image, not a JSON:API document (the service answers 415 for other types).
    body_media_types = tuple(services.AVATAR_FORMATS)

    def handle_exception(self, exc):
        # Errors are JSON:API documents even when the client asked for an image.
        self.request.accepted_renderer = JSONAPIRenderer()
        self.request.accepted_media_type = MEDIA_TYPE
        return super().handle_exception(exc)

    def _user(self, request, pk):
        if pk is None:
            return request.user
        user = User.objects.for_user(request.user).filter(pk=pk).first()
        if user is None:
            raise Http404
        return user

    def get(self, request, pk=None):
        user = self._user(request, pk)
        data, content_type = selectors.avatar_image(user)
        if not _accepts(request, content_type):
            raise NotAcceptable(f"This avatar is {content_type}; ask for it with Accept: {content_type} or image/*.")
        response = HttpResponse(data, content_type=content_type)
        response["Cache-Control"] = "private, no-cache"
        response["ETag"] = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
        return response

    def put(self, request, pk=None):
        if pk is not None and int(pk) != request.user.pk:
            self._user(request, pk)
            raise Forbidden("You can only change your own avatar, through /users/me/avatar/.")
        services.avatar_set(user=request.user, data=request.body, content_type=request.content_type)
        return self.get(request)

    def delete(self, request, pk=None):
        if pk is not None and int(pk) != request.user.pk:
            self._user(request, pk)
            raise Forbidden("You can only reset your own avatar, through /users/me/avatar/.")
        services.avatar_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Resource types whose objects /users/me/permissions/ can report on.
def _permission_object(request, object_type, object_id):
    model = next(
        (m for m in apps.get_models() if m.__name__ == object_type and hasattr(m.objects, "for_user")),
        None,
    )
    if model is None:
        raise ApiError(f"`{object_type}` is not a resource type.", parameter="objectType")
    if not is_id_text(object_id):
        raise Http404
    obj = model.objects.for_user(request.user).filter(pk=int(object_id)).first()
    if obj is None:
        raise Http404
    return obj


@extend_schema_view(get=extend_schema(
    summary="The caller's permissions, globally and on one object",
    parameters=[
        OpenApiParameter("objectType", str,
                         description="A resource type, e.g. `Account` (together with `objectId`)."),
        OpenApiParameter("objectId", str, pattern=ID_PATTERN, description="That resource's id."),
    ],
    responses=PermissionSetSerializer,
))
class PermissionSetView(RosterAPIView):
    """The caller's global permissions, plus those held on one object when asked."""

    resource_name = "PermissionSet"
    extra_query_params = ("objectType", "objectId")

    def get(self, request):
        object_type = request.query_params.get("objectType")
        object_id = request.query_params.get("objectId")
        if bool(object_type) != bool(object_id):
            missing = "objectId" if object_type else "objectType"
            raise ApiError("`objectType` and `objectId` go together.", parameter=missing, code="required")
        names = set(selectors.global_permission_names(request.user))
        if object_type:
            obj = _permission_object(request, object_type, object_id)
            label = obj._meta.app_label
            names |= {f"{label}.{codename}" for codename in get_perms(request.user, obj)}
            names.add(f"{label}.view_{obj._meta.model_name}")  # it was found through for_user()
            names |= rules.listed_permissions(request.user, obj)
        payload = {
            "id": str(request.user.pk),
            "permissions": sorted(names),
            "object_type": object_type,
            "object_id": object_id,
        }
        return Response(PermissionSetSerializer(payload).data)


class SessionViewSet(ListModelMixin, RetrieveModelMixin, mixins.DestroyModelMixin, RosterViewSet):
    queryset = Session.objects.all()
    serializer_class = SessionSerializer
    ordering_fields = ["created", "expires_at", "last_seen_at"]
    ordering = ("-created", "-id")
    select_for_includes = {"user": ["user"]}
    error_statuses = {"post": (401, 429)}  # signing in: invalid_credentials, too_many_attempts

    def get_permissions(self):
        if self.action == "create":
            return [AllowAny()]
        return super().get_permissions()

    def perform_authentication(self, request):
        if self.action == "create":
            # Signing in must work even with a stale token or cookie in the request.
            request.user, request.auth = AnonymousUser(), None
            return
        super().perform_authentication(request)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session, token = services.session_create(
            request=request,
            password=data.get("password", ""),
            email=data.get("email"),
            username=data.get("username"),
        )
        session.plain_token = token
        return Response(self.get_serializer(session).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        if not services.session_delete(session=instance):
            raise NotFound("This session has ended already.")

    def _current(self, request):
        if not isinstance(request.auth, Session):
            raise ApiError("This request is not signed with a bearer token, so there is no current session.",
                           status_code=404)
        return request.auth

    @action(detail=False, methods=["get", "patch", "delete"], url_path="current", request_body_required=False)
    def current(self, request):
        """The session of the token in use: read, keep alive, or log out."""
        session = self._current(request)
        self.kwargs[self.lookup_field] = str(session.pk)
        if request.method == "DELETE":
            if not services.session_delete(session=session):  # another logout or a revocation came first
                raise Unauthorized("The token is unknown, expired or revoked.", code="authentication_failed")
            return Response(status=status.HTTP_204_NO_CONTENT)
        if request.method == "PATCH":
            if int(request.META.get("CONTENT_LENGTH") or 0):
                # No body is needed; one that is sent must still be a valid, unchanging document.
                serializer = self.get_serializer(session, data=request.data, partial=True)
                serializer.is_valid(raise_exception=True)
            session = services.session_keep_alive(session=session)
        return Response(self.get_serializer(session).data)


class RoleViewSet(RosterModelViewSet):
    queryset = Role.objects.prefetch_related(
        Prefetch("permissions", queryset=Permission.objects.select_related("content_type"))
    )
    serializer_class = RoleSerializer
    filterset_class = RoleFilterSet
    create_permission = "accounts.add_role"
    ordering_fields = ["name", "created", "updated"]
    ordering = ("name", "id")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.role_create(
            actor=self.request.user,
            name=data["name"],
            description=data.get("description", ""),
            permissions=data.get("permissions", []),
        )

    def perform_update(self, serializer):
        serializer.instance = services.role_update(
            actor=self.request.user, role=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        services.role_delete(actor=self.request.user, role=instance)


class ContactViewSet(
    ListModelMixin,
    RetrieveModelMixin,
    CreateModelMixin,
    mixins.DestroyModelMixin,
    RosterViewSet,
):
    queryset = Contact.objects.select_related("contact")
    serializer_class = ContactSerializer
    ordering_fields = ["created"]
    error_statuses = {"post": (429,)}  # adding by email is throttled per caller

    def get_throttles(self):
        # Adding by email says whether the address is registered: throttled per caller, so the
        # address book is no way to test a list of addresses.
        return [ContactLookupThrottle()] if self.action == "create" else super().get_throttles()

    def perform_create(self, serializer):
        serializer.instance = services.contact_create(
            owner=self.request.user, contact=serializer.validated_data["contact"]
        )

    def perform_destroy(self, instance):
        services.contact_delete(owner=self.request.user, contact=instance)



class AccountViewSet(RosterModelViewSet):
    queryset = Account.objects.all()
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    ordering_fields = ["name", "member_count", "utility_count", "created"]
    ordering = ("name", "id")
    prefetch_for_includes = {"__all__": ["account_roles"]}

    def perform_create(self, serializer):
        serializer.instance = services.account_create(actor=self.request.user, data=dict(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_update(self, serializer):
        services.account_update(actor=self.request.user, account=serializer.instance,
                                data=dict(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        services.account_delete(actor=self.request.user, account=instance)

    @action(detail=False, methods=["get"], url_path="default")
    def default(self, request):
        """The site's default account, readable by every signed-in user."""
        account = services.default_account()
        self.kwargs[self.lookup_field] = str(account.pk)
        return self.retrieve(request)


class AccountRoleViewSet(RosterModelViewSet):
    queryset = AccountRole.objects.all()
    serializer_class = AccountRoleSerializer
    create_permission = rules.SITE_ADMINS_ONLY  # SPEC: account roles are written by site admins
    ordering_fields = ["name", "created"]
    ordering = ("name", "id")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.account_role_create(actor=self.request.user, name=data["name"],
                                                           description=data.get("description", ""))

    def perform_update(self, serializer):
        serializer.instance = services.account_role_update(actor=self.request.user, role=serializer.instance,
                                                           data=dict(serializer.validated_data))

    def perform_destroy(self, instance):
        services.account_role_delete(actor=self.request.user, role=instance)


def _account_for(request, pk, *, deleted_ok_for_site_admins=False):
    """The account at `pk` if the caller sees it; 404 otherwise. The caller's roles in it and
    in its consultancy come with it, so the permission rules ask no further query."""
    account = with_caller_roles(Account.objects.for_user(request.user), request.user).filter(pk=pk).first()
    remember_caller_roles(request.user, account)
    if account is None and not (deleted_ok_for_site_admins and request.user.is_superuser):
        raise Http404
    return account


class AccountAuditLogViewSet(ListModelMixin, RosterViewSet):
    """Every change to an account and to everything inside it, newest first.

    One indexed query on `account_id`; entries outlive what they describe, and site admins
    can still read the history of a deleted account. Histories run to hundreds of thousands
    of entries; pages are sliced ids first (jsonapi.pagination, every list's paginator), so
    deep pages cost about what page 1 does.
    """

    serializer_class = AuditLogEntrySerializer
    filterset_class = AuditLogEntryFilterSet
    ordering_fields = ["timestamp"]
    ordering = ("-timestamp", "-id")
    select_for_includes = {"__all__": ["content_type"]}
    resource_name = "AuditLogEntry"
    relationship_routes = False  # entries have no URL of their own
    error_statuses = {"get": (403,)}  # for the account's admins and consultants only

    def get_queryset(self):
        account_id = int(self.kwargs["account_pk"])
        account = _account_for(self.request, account_id, deleted_ok_for_site_admins=True)
        if account is not None and not self.request.user.has_perm("accounts.view_auditlogentry", account):
            raise Forbidden("The audit log is for the account's admins and consultants.")
        entries = AuditLogEntry.objects.filter(account_id=account_id).select_related("content_type")
        if account is None and not entries.exists():
            raise Http404
        include = self.request.query_params.get("include", "")
        if "actor" in include.split(","):
            # This method replaces the base's, so the include preloads are applied here.
            entries = entries.select_related("actor").prefetch_related(*self.get_prefetch_related("actor"))
        return entries


@extend_schema_view(
    get=extend_schema(summary="The account's activation code (issued when none is valid)",
                      responses=ActivationCodeSerializer),
    post=extend_schema(summary="Replace the account's activation code; the old one stops working",
                       request=None, responses={201: ActivationCodeSerializer}),
)
class ActivationCodeView(RosterAPIView):
    """GET an account's activation code (issued when none is valid); POST .../refresh/ replaces it."""

    resource_name = "ActivationCode"
    post_creates = True
    # for the account's admins only (403); the default account has no activation code (409)
    error_statuses = {"get": (403, 409), "post": (403, 409)}

    def created_location(self, request, data):
        return request.build_absolute_uri(reverse("account-activation-code", args=[self.kwargs["pk"]]))

    def _account(self, request, pk):
        account = _account_for(request, pk)
        if not request.user.has_perm("accounts.change_activationcode", account):
            raise Forbidden("Activation codes are for the account's admins.")
        return account

    def get(self, request, pk):
        activation = services.activation_code_current(actor=request.user, account=self._account(request, pk))
        return Response(self._data(activation))

    def post(self, request, pk):
        activation = services.activation_code_refresh(actor=request.user, account=self._account(request, pk))
        return Response(self._data(activation), status=status.HTTP_201_CREATED)

    @staticmethod
    def _data(activation):
        activation.id = str(activation.account_id)
        return ActivationCodeSerializer(activation).data


class ActivationThrottle(UserRateThrottle):
    scope = "activation"


class ContactLookupThrottle(UserRateThrottle):
    scope = "contact_lookup"


@extend_schema_view(post=extend_schema(
    summary="Join an account with its activation code",
    request=ActivationSerializer,
    responses={201: AccountMembershipSerializer},
))
class ActivationView(RosterAPIView):
    """POST an account's activation code to join it as `user`."""

    resource_name = "Activation"
    throttle_classes = [ActivationThrottle]
    post_creates = True
    error_statuses = {"post": (429,)}  # too_many_attempts

    def get_serializer(self, *args, **kwargs):
        return ActivationSerializer(*args, context={"request": self.request, "view": self}, **kwargs)

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.account_activate(actor=request.user,
                                               code=serializer.validated_data["activation_code"])
        self.resource_name = "AccountMembership"  # the response is the membership it made
        return Response(AccountMembershipSerializer(membership, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class AccountMembershipViewSet(RosterModelViewSet):
    queryset = AccountMembership.objects.all()
    serializer_class = AccountMembershipSerializer
    filterset_class = AccountMembershipFilterSet
    ordering_fields = ["created", "role"]
    select_for_includes = {"user": ["user"]}
    error_statuses = {"delete": (409,)}  # last_admin: the last admin of an account stays

    parent_field = "account"
    parent_permission = "accounts.add_accountmembership"
    parent_refusal = "Only the account's admins add members."

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


class InvitationViewSet(ListModelMixin, RetrieveModelMixin, CreateModelMixin, RosterViewSet):
    """Invitations into accounts and utilities (SPEC §3): created by the target's admins,
    answered by the invitee, revoked (DELETE) by the target's admins."""

    # The relationships render from the related rows (DJA reads the object for its type): one join.
    queryset = Invitation.objects.select_related("account", "utility", "invited_by")
    serializer_class = InvitationSerializer
    ordering_fields = ["created", "expires_at"]
    http_method_names = ["get", "post", "delete", "head", "options"]
    fast_read = False
    # 409 duplicate on create, conflict on answering anything but a pending invitation
    error_statuses = {"post": (409, 429), "delete": (409,)}
    #: the membership resource an accepted invitation answers with, by target model label
    membership_serializers = {
        "accounts.account": "accounts.api.serializers.AccountMembershipSerializer",
        "memberships.utility": "memberships.api.serializers.MembershipSerializer",
    }

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.invitation_create(
            actor=self.request.user, email=data["email"], role=data.get("role"),
            target=data.get("account") or data.get("utility"),
        )

    def destroy(self, request, *args, **kwargs):
        services.invitation_revoke(actor=request.user, invitation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _invitation(self, pk) -> Invitation:
        invitation = Invitation.objects.for_user(self.request.user).filter(pk=pk).first() if is_id_text(pk) else None
        if invitation is None:
            raise Http404
        return invitation

    def get_serializer_class(self):
        return getattr(self, "_answer_serializer", None) or super().get_serializer_class()

    @action(detail=True, methods=["post"], url_path="accept", request_body_required=False, post_creates=True,
            error_statuses={"post": (409,)})
    def accept(self, request, pk=None):
        """The invitee joins: 201 with the new membership."""
        from django.utils.module_loading import import_string

        invitation = self._invitation(pk)
        membership = services.invitation_accept(actor=request.user, invitation=invitation)
        self._answer_serializer = import_string(self.membership_serializers[membership_target(invitation)])
        serializer = self._answer_serializer(membership, context=self.get_serializer_context())
        return Response(serializer.data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"], url_path="decline", request_body_required=False,
            error_statuses={"post": (409,)})
    def decline(self, request, pk=None):
        invitation = services.invitation_decline(actor=request.user, invitation=self._invitation(pk))
        return Response(self.get_serializer(invitation).data)


def membership_target(invitation) -> str:
    return "accounts.account" if invitation.account_id else "memberships.utility"
