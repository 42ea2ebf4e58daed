"""JSON:API shapes of users, sessions, roles, contacts and permission sets: validation only."""

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from accounts.models import Contact, Role, Session, User
from accounts.services import UnknownPermission, permissions_from_names
from config.api import ModelSerializer, ResourceRelatedField, Serializer, VisibleResourceRelatedField


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


class UserSerializer(ModelSerializer):
    email = serializers.EmailField(max_length=254)
    username = serializers.CharField(max_length=150, required=False, validators=[UnicodeUsernameValidator()])
    password = serializers.CharField(write_only=True, required=False, max_length=4096,
                                     style={"input_type": "password"}, trim_whitespace=False)
    current_password = serializers.CharField(write_only=True, required=False, max_length=4096,
                                             trim_whitespace=False)
    is_site_admin = serializers.BooleanField(source="is_superuser", read_only=True)
    roles = ResourceRelatedField(many=True, required=False, queryset=Role.objects.all())

    included_serializers = {"roles": RoleSerializer}

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
            "password",
            "current_password",
            "roles",
        ]
        read_only_fields = ["date_joined", "last_login"]


class SessionSerializer(ModelSerializer):
    email = serializers.CharField(write_only=True, required=False, max_length=254)
    username = serializers.CharField(write_only=True, required=False, max_length=254)
    password = serializers.CharField(write_only=True, max_length=4096, trim_whitespace=False)
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

    def get_token(self, session):
        return getattr(session, "plain_token", None)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("token") is None:
            data.pop("token", None)  # the token is shown once, in the response that created it
        return data

    def validate(self, attrs):
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
            contact = User.objects.filter(email__iexact=email.strip()).first()
            if contact is None:
                raise serializers.ValidationError({"email": serializers.ErrorDetail(
                    "No user has this email.", code="invalid")})
        return {"contact": contact}


class PermissionSetSerializer(Serializer):
    id = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    object_type = serializers.CharField(allow_null=True)
    object_id = serializers.CharField(allow_null=True)

    class Meta:
        resource_name = "PermissionSet"
