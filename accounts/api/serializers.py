"""JSON:API shapes of users, sessions, roles, contacts and permission sets: validation only."""

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import (
    HEX_COLOUR,
    HTTP_URL,
    Account,
    AccountMembership,
    AccountRole,
    AuditLogEntry,
    Contact,
    Invitation,
    Role,
    Session,
    User,
    validate_custom_attributes,
    validate_email_address,
)
from accounts.services import UnknownPermission, permissions_from_names
from core.audit import mask_change
from jsonapi.errors import ApiError
from jsonapi.planning import CountField, VisibleRelatedField
from jsonapi.serializers import (
    ModelSerializer,
    ParentRelatedField,
    ResourceRelatedField,
    Serializer,
    StrictBooleanField,
    StrictIntegerField,
    StrictSerializerMixin,
    VisibleResourceRelatedField,
    _jsonable,
    _same_relationship,
    private,
)
from jsonapi.wire import wire_name, wire_value


class PermissionNamesField(serializers.ListField):
    """Permissions on the wire: a sorted list of `app_label.codename`."""

    child = serializers.CharField(max_length=255)

    def to_representation(self, value):
        permissions = value.all() if hasattr(value, "all") else value
        return sorted(f"{p.content_type.app_label}.{p.codename}" for p in permissions)

    def to_internal_value(self, data):
        names = super().to_internal_value(data)
        try:
            return permissions_from_names(names)
        except UnknownPermission as exc:
            raise serializers.ValidationError({exc.position: [str(exc)]}) from None


class RoleSerializer(ModelSerializer):
    permissions = PermissionNamesField(required=False)

    class Meta:
        model = Role
        fields = ["name", "description", "permissions", "created", "updated"]
        read_only_fields = ["created", "updated"]
        extra_kwargs = {"name": {"validators": []}}


@extend_schema_field({
    "type": "string", "minLength": 8, "maxLength": 4096,
    "description": "Checked by the server's password validators: at least 8 characters, not too "
                   "common, not all digits, not too like the user's other attributes."})
class NewPasswordField(serializers.CharField):
    """A password to set; the password validators check it (in the service)."""


PRIVATE_USER_ATTRIBUTES = "accounts.view_user_private"


class UserSerializer(ModelSerializer):
    email = serializers.EmailField(max_length=254, validators=[validate_email_address])
    username = serializers.CharField(max_length=150, required=False, validators=[UnicodeUsernameValidator()])
    password = NewPasswordField(write_only=True, required=False, max_length=4096,
                                style={"input_type": "password"}, trim_whitespace=False)
    current_password = serializers.CharField(write_only=True, required=False, max_length=4096,
                                             trim_whitespace=False)
    # Private attributes (SPEC §1): shown to the user, site admins and admins of their accounts.
    strategy = private(serializers.ChoiceField)(choices=User.Strategy.choices, required=False,
                                                permission=PRIVATE_USER_ATTRIBUTES)
    is_active = private(StrictBooleanField)(required=False, permission=PRIVATE_USER_ATTRIBUTES)
    is_site_admin = private(serializers.BooleanField)(source="is_superuser", read_only=True,
                                                      permission=PRIVATE_USER_ATTRIBUTES)
    date_joined = private(serializers.DateTimeField)(read_only=True, permission=PRIVATE_USER_ATTRIBUTES)
    last_login = private(serializers.DateTimeField)(read_only=True, allow_null=True,
                                                   permission=PRIVATE_USER_ATTRIBUTES)
    email_verified = private(serializers.BooleanField)(read_only=True, permission=PRIVATE_USER_ATTRIBUTES)
    roles = ResourceRelatedField(many=True, required=False, queryset=Role.objects.all())
    account_memberships = VisibleRelatedField(many=True, model=AccountMembership, unbounded=True)
    memberships = VisibleRelatedField(many=True, model="memberships.Membership", unbounded=True)

    included_serializers = {
        "roles": RoleSerializer,
        "account_memberships": "accounts.api.serializers.AccountMembershipSerializer",
        "memberships": "memberships.api.serializers.MembershipSerializer",
    }

    class Meta:
        model = User
        fields = [
            "email",
            "username",
            "first_name",
            "last_name",
            "strategy",
            "is_active",
            "is_site_admin",
            "date_joined",
            "last_login",
            "email_verified",
            "password",
            "current_password",
            "roles",
            "account_memberships",
            "memberships",
        ]
        read_only_fields = ["date_joined", "last_login", "email_verified"]
        writable_relationships = ["roles"]  # also through /users/{id}/relationships/roles/


class SessionSerializer(ModelSerializer):
    email = serializers.CharField(write_only=True, required=False, max_length=254)
    username = serializers.CharField(write_only=True, required=False, max_length=254)
    password = serializers.CharField(write_only=True, required=False, max_length=4096, trim_whitespace=False)
    token = serializers.SerializerMethodField()
    user = ResourceRelatedField(read_only=True)

    included_serializers = {"user": UserSerializer}

    class Meta:
        model = Session
        fields = [
            "email",
            "username",
            "password",
            "token",
            "created",
            "expires_at",
            "last_seen_at",
            "user_agent",
            "ip_address",
            "user",
        ]
        read_only_fields = ["created", "expires_at", "last_seen_at", "user_agent", "ip_address"]
        fixed_fields = ["email", "username", "password"]  # credentials sign in; they change nothing after

    @extend_schema_field({
        "type": "string", "description": "The bearer token; only in the response that created the session."})
    def get_token(self, session):
        return getattr(session, "plain_token", None)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("token") is None:
            data.pop("token", None)  # the token is shown once, in the response that created it
        return data

    def validate(self, attrs):
        if self.instance is not None:
            return attrs  # a keep-alive body: nothing to change
        if bool(attrs.get("email")) == bool(attrs.get("username")):
            raise serializers.ValidationError(
                {"email": serializers.ErrorDetail("Send exactly one of `email` and `username`.", code="invalid")}
            )
        return attrs


class ContactSerializer(ModelSerializer):
    contact = VisibleResourceRelatedField(queryset=User.objects.all(), required=False)
    email = serializers.EmailField(required=False, max_length=254)
    username = serializers.CharField(read_only=True)

    included_serializers = {"contact": UserSerializer}

    class Meta:
        model = Contact
        fields = ["email", "username", "created", "contact"]
        read_only_fields = ["created"]
        fixed_fields = ["contact", "email"]

    def validate(self, attrs):
        contact, email = attrs.get("contact"), attrs.get("email")
        if contact is not None and email:
            raise serializers.ValidationError({"email": serializers.ErrorDetail(
                "Send either the `contact` relationship or `email`, not both.", code="invalid")})
        if contact is None and not email:
            raise serializers.ValidationError({"contact": serializers.ErrorDetail(
                "Send the `contact` relationship or an `email`.", code="required")})
        if contact is None:
            contact = User.objects.with_email(email).filter(is_active=True).first()
            if contact is None:
                raise serializers.ValidationError({"email": serializers.ErrorDetail(
                    "No user has this email.", code="invalid")})
        request = self.context.get("request")
        if request is not None and contact.pk == request.user.pk:
            raise serializers.ValidationError({"email" if email else "contact": serializers.ErrorDetail(
                "You cannot add yourself as a contact.", code="invalid")})
        return {"contact": contact}


class PermissionSetSerializer(Serializer):
    id = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    object_type = serializers.CharField(allow_null=True)
    object_id = serializers.CharField(allow_null=True)

    class Meta:
        resource_name = "PermissionSet"


class AccountRoleSerializer(ModelSerializer):
    class Meta:
        model = AccountRole
        fields = ["name", "description", "created"]
        read_only_fields = ["created"]
        extra_kwargs = {"name": {"validators": []}}


@extend_schema_field({
    "type": "object", "maxProperties": 100,
    "description": "A flat object of text, number or boolean values (keys 1..1024 characters).",
    "additionalProperties": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 1024},
                                       {"type": "number"}, {"type": "boolean"}]}})
class CustomAttributesField(serializers.JSONField):
    """A flat object of text/number/bool values; errors point at the offending key."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        try:
            validate_custom_attributes(data)
        except DjangoValidationError as exc:
            key = (exc.params or {}).get("key")
            message = exc.messages[0]
            raise serializers.ValidationError({key: [message]} if key else [message]) from None
        return data


@extend_schema_field({
    "type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 500,
    "description": "An http or https URL."})
class LogoUrlField(serializers.CharField):
    """An account's logo: an http or https URL (the model's HTTP_URL), at most 500 characters."""


def _seconds(**kwargs):
    return StrictIntegerField(min_value=1, max_value=2_147_483_647, required=False, **kwargs)


class AccountSerializer(ModelSerializer):
    name = serializers.CharField(max_length=200)
    primary_color = serializers.CharField(max_length=7, required=False, allow_null=True, validators=[HEX_COLOUR])
    secondary_color = serializers.CharField(max_length=7, required=False, allow_null=True, validators=[HEX_COLOUR])
    logo_url = LogoUrlField(max_length=500, required=False, allow_null=True, validators=[HTTP_URL])
    health_time_period = _seconds()
    exec_interval = _seconds()
    base_line_exec_interval = _seconds()
    cd_model_frequency = _seconds()
    cd_execution_frequency = _seconds()
    data_retention = StrictIntegerField(min_value=0, max_value=2_147_483_647, required=False)
    custom_attributes = CustomAttributesField(required=False)
    member_count = CountField(annotated_by="with_counts")
    utility_count = CountField(annotated_by="with_counts")
    account_roles = ResourceRelatedField(many=True, required=False, queryset=AccountRole.objects.all())
    # Only site admins change it (they see every account); others may send it back unchanged.
    consultancy_account = ResourceRelatedField(required=False, allow_null=True, queryset=Account.objects.all())
    account_memberships = VisibleRelatedField(many=True, model=AccountMembership, unbounded=True)
    utilities = VisibleRelatedField(many=True, model="memberships.Utility", unbounded=True)

    included_serializers = {
        "account_roles": AccountRoleSerializer,
        "utilities": "memberships.api.serializers.UtilitySerializer",
        "consultancy_account": "accounts.api.serializers.AccountSerializer",
        "account_memberships": "accounts.api.serializers.AccountMembershipSerializer",
    }

    class Meta:
        model = Account
        fields = [
            "name",
            "primary_color",
            "secondary_color",
            "logo_url",
            "health_time_period",
            "exec_interval",
            "base_line_exec_interval",
            "cd_model_frequency",
            "cd_execution_frequency",
            "data_retention",
            "custom_attributes",
            "default_product_privacy",
            "created",
            "updated",
            "member_count",
            "utility_count",
            "account_roles",
            "consultancy_account",
            "account_memberships",
            "utilities",
        ]
        read_only_fields = ["created", "updated"]
        writable_relationships = ["account_roles"]  # also through /accounts/{id}/relationships/accountRoles/

    SITE_ADMIN_MEMBERS = {"consultancy_account": "consultancyAccount", "account_roles": "accountRoles"}
    # to_representation below only fills in counts for an account read without them; both
    # read paths read accounts with their counts (the CountFields above).
    plain_representation = True

    def to_internal_value(self, data):
        # Only site admins set these; anyone else sending a new value is refused before the
        # ids are looked up, so the answer does not depend on whether those ids exist.
        request = self.context.get("request")
        if request is not None and not request.user.is_superuser and isinstance(data, dict):
            for name, wire in self.SITE_ADMIN_MEMBERS.items():
                if name in data and self._privileged_change(name, data[name]):
                    raise ApiError(f"Only site admins set `{wire}`.", status_code=403)
        return super().to_internal_value(data)

    def _privileged_change(self, name, sent):
        if self.instance is None:
            return sent not in (None, [])
        current = self.fields[name].to_representation(self.fields[name].get_attribute(self.instance))
        return not _same_relationship(_jsonable(current), sent)

    def to_representation(self, instance):
        if not hasattr(instance, "member_count"):  # an account not read through the view's queryset
            fresh = type(instance).objects.with_counts(self.context["request"].user).get(pk=instance.pk)
            instance.member_count, instance.utility_count = fresh.member_count, fresh.utility_count
        return super().to_representation(instance)


class AuditLogEntrySerializer(ModelSerializer):
    action = serializers.SerializerMethodField()
    object_type = serializers.SerializerMethodField()
    object_id = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()
    actor = ResourceRelatedField(read_only=True)

    included_serializers = {"actor": UserSerializer}

    class Meta:
        model = AuditLogEntry
        fields = ["timestamp", "action", "object_type", "object_id", "object_repr", "changes", "remote_addr",
                  "actor"]
        read_only_fields = fields

    ACTIONS = {0: "create", 1: "update", 2: "delete", 3: "access"}

    @extend_schema_field({"type": "string", "enum": ["create", "update", "delete", "access"]})
    def get_action(self, entry):
        return self.ACTIONS.get(entry.action, str(entry.action))

    @extend_schema_field({"type": "string", "description": "The changed object's resource type, e.g. `Membership`."})
    def get_object_type(self, entry):
        model = entry.content_type.model_class() if entry.content_type_id else None
        return model.__name__ if model is not None else entry.content_type.model.title()

    @extend_schema_field({"type": "string", "description": "The changed object's id."})
    def get_object_id(self, entry):
        return str(entry.object_id if entry.object_id is not None else entry.object_pk)

    @extend_schema_field({
        "type": "object",
        "description": "Field name → `[old, new]`; a many-to-many change is an object "
                       "`{type: \"m2m\", operation, objects}`. Secrets are masked.",
        "additionalProperties": {"oneOf": [{"type": "array", "items": {}}, {"type": "object"},
                                           {"type": "string"}]}})
    def get_changes(self, entry):
        model = entry.content_type.model_class() if entry.content_type_id else None
        return audit_changes_for_wire(model, entry.changes)


def audit_changes_for_wire(model, changes):
    """The changed resource's member names and wire values; secrets masked whatever was stored."""
    if not isinstance(changes, dict):
        return {}
    result = {}
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            value = [wire_value(model, field, item) for item in value]
        result[wire_name(model, field)] = mask_change(field, value, model)
    return result


class ActivationCodeSerializer(Serializer):
    id = serializers.CharField()
    activation_code = serializers.CharField(source="code")
    expires_at = serializers.DateTimeField()
    time_left = serializers.SerializerMethodField()
    account = ResourceRelatedField(read_only=True, model=Account)

    class Meta:
        resource_name = "ActivationCode"

    @extend_schema_field({"type": "integer", "minimum": 0, "description": "Seconds until the code expires."})
    def get_time_left(self, activation):
        return max(0, int((activation.expires_at - timezone.now()).total_seconds()))


class ActivationSerializer(StrictSerializerMixin, Serializer):
    activation_code = serializers.CharField(max_length=64)

    class Meta:
        resource_name = "Activation"


class AddableUserField(ResourceRelatedField):
    """The person a new membership is for: only someone the caller may add directly
    (`User.objects.addable_by`); anyone else is answered as if no such user existed (400 at
    the relationship), so adding is no way to learn who has an account here."""

    def __init__(self, *, add_permission: str, **kwargs):
        self.add_permission = add_permission
        super().__init__(queryset=User.objects.all(), **kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        creating = getattr(self.parent, "instance", None) is None
        if creating and request is not None:
            return User.objects.addable_by(request.user, self.add_permission)
        return super().get_queryset()

    def to_internal_value(self, data):
        user = super().to_internal_value(data)
        request = self.context.get("request")
        if getattr(self.parent, "instance", None) is None and request is not None:
            # Found among those the caller may add: the service's `ensure_addable` asks no more.
            user._addable_by = (request.user.pk, self.add_permission)
        return user


class AccountMembershipSerializer(ModelSerializer):
    role = serializers.ChoiceField(choices=AccountMembership.Role.choices, required=False)
    # The view checks the account before this is looked up.
    user = AddableUserField(add_permission="accounts.add_accountmembership")
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


class UtilityParentField(ParentRelatedField):
    """An invitation's utility: the memberships app's model, named by string (a layer above)."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Account.objects.none(), **kwargs)

    def get_queryset(self):
        from django.apps import apps

        return apps.get_model("memberships", "Utility").objects.all()


class InvitationSerializer(ModelSerializer):
    email = serializers.EmailField(max_length=254, validators=[validate_email_address])
    role = serializers.CharField(max_length=16, required=False)
    status = serializers.CharField(source="current_status", read_only=True)
    account = ParentRelatedField(queryset=Account.objects.all(), required=False)
    utility = UtilityParentField(required=False)
    invited_by = ResourceRelatedField(read_only=True)

    class Meta:
        model = Invitation
        fields = ["email", "role", "status", "expires_at", "created", "account", "utility", "invited_by"]
        read_only_fields = ["expires_at", "created"]
        fixed_fields = ["email", "role", "account", "utility"]
        validators = []

    def validate(self, attrs):
        if self.instance is None and bool(attrs.get("account")) == bool(attrs.get("utility")):
            raise serializers.ValidationError({"account": serializers.ErrorDetail(
                "Send exactly one of the `account` and `utility` relationships.", code="required")})
        return attrs
