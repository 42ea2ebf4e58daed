"""JSON:API shapes of product types, products, charges and merchants: validation only.
Coins are decimal strings on the wire."""

from decimal import Decimal

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_json_api.utils import get_resource_type_from_queryset

from billing.models import (
    ASSET_CONTENT_MAX_BYTES,
    ASSET_NAME_PATTERN,
    COIN,
    Asset,
    Charge,
    Merchant,
    Product,
    ProductType,
    content_size_ok,
)
from jsonapi.planning import CountField
from jsonapi.query import is_id_text
from jsonapi.serializers import (
    ModelSerializer,
    ParentRelatedField,
    ResourceRelatedField,
    Serializer,
    StrictBooleanField,
    StrictIntegerField,
)
from memberships.models import Utility

MAX_COINS = 2_147_483_647


def coins_text(value) -> str:
    """Coins as the wire writes them: a decimal string with four places."""
    return f"{Decimal(value).quantize(Decimal('0.0001')):f}"


def _coins_field(**kwargs):
    return serializers.DecimalField(**COIN, coerce_to_string=True, **kwargs)


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$", "readOnly": True})
class CoinsUsedField(CountField):
    """The coins a product used in the current billing period, summed in the page's own
    query (`ProductQuerySet.with_usage`), as a decimal string."""

    def to_representation(self, value):
        return coins_text(value)


class ObjectField(serializers.JSONField):
    """A JSON object (not a list, string or number)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected an object.")
        return super().to_internal_value(data)


class ProductTypeSerializer(ModelSerializer):
    monthly_fee = _coins_field(read_only=True)
    storage_cost = _coins_field(read_only=True)

    class Meta:
        model = ProductType
        fields = ["code", "name", "description", "flavours", "fixed_allowances", "monthly_fee", "storage_cost",
                  "created"]
        read_only_fields = fields


class ProductSerializer(ModelSerializer):
    name = serializers.CharField(max_length=200)
    flavour = serializers.CharField(max_length=64, required=False, allow_blank=True)
    allowance = StrictIntegerField(min_value=0, max_value=MAX_COINS, required=False)
    limit = StrictIntegerField(min_value=0, max_value=MAX_COINS, required=False)
    coins_used = CoinsUsedField(annotated_by="with_usage")
    at_limit = serializers.BooleanField(read_only=True)
    product_type = ResourceRelatedField(queryset=ProductType.objects.all())
    utility = ParentRelatedField(queryset=Utility.objects.all())

    included_serializers = {
        "product_type": ProductTypeSerializer,
        "utility": "memberships.api.serializers.UtilitySerializer",
    }

    class Meta:
        model = Product
        fields = ["name", "flavour", "allowance", "limit", "coins_used", "at_limit", "created", "updated",
                  "product_type", "utility"]
        read_only_fields = ["created", "updated"]
        fixed_fields = ["flavour", "product_type", "utility"]
        validators = []


class MerchantSerializer(ModelSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)

    class Meta:
        model = Merchant
        fields = ["name", "kind", "url", "created"]
        read_only_fields = ["created"]


class LockedLaterField(ResourceRelatedField):
    """A relationship whose row the service reads anyway, under a lock: checked for shape
    here, looked up once, there (the charge POST is the ledger's hot write)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict) or "type" not in data or "id" not in data:
            return super().to_internal_value(data)  # DJA's own errors for malformed identifiers
        expected = self.get_resource_type_from_included_serializer() or get_resource_type_from_queryset(
            self.get_queryset())
        if data["type"] != expected:
            self.conflict("incorrect_relation_type", relation_type=expected, received_type=data["type"])
        raw = data["id"]
        if isinstance(raw, bool) or not is_id_text(str(raw)):
            self.fail("does_not_exist", pk_value=raw)
        return self.get_queryset().model(pk=int(raw))


class ChargeSerializer(ModelSerializer):
    kind = serializers.ChoiceField(choices=Charge.Kind.choices)
    amount = _coins_field()
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    additional_data = ObjectField(required=False)
    charged_at = serializers.DateTimeField(required=False)
    billing_period_start = serializers.DateField(read_only=True)
    billing_period_end = serializers.DateField(read_only=True)
    # Charges are posted by merchants' services (holders of billing.add_charge), who need not
    # see the product through a role; the view lets only them and site admins get this far.
    product = LockedLaterField(queryset=Product.objects.all())
    merchant = ResourceRelatedField(queryset=Merchant.objects.all(), required=False, allow_null=True)

    included_serializers = {
        "product": ProductSerializer,
        "merchant": MerchantSerializer,
    }

    class Meta:
        model = Charge
        fields = ["kind", "amount", "description", "additional_data", "charged_at", "billing_period_start",
                  "billing_period_end", "created", "product", "merchant"]
        read_only_fields = ["created"]
        validators = []


# --------------------------------------------------------------------------- assets


@extend_schema_field({"type": "string", "nullable": True, "maxLength": ASSET_CONTENT_MAX_BYTES,
                      "description": "Text of at most 64 KiB (65536 bytes as UTF-8). Always null for a secret: "
                                     "its content is read from `/api/v1/assets/{id}/secret/`; writing null "
                                     "back to a secret changes nothing."})
class AssetContentField(serializers.CharField):
    """`content`: a plain asset's text; a secret's is never shown (null), only written."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, allow_blank=True, trim_whitespace=False, **kwargs)

    def get_attribute(self, instance):
        return None if instance.is_secret else instance.content

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not content_size_ok(value):
            raise serializers.ValidationError(
                f"At most {ASSET_CONTENT_MAX_BYTES} bytes (64 KiB, counted as UTF-8).")
        return value


@extend_schema_field({"type": "string", "nullable": True, "pattern": r"^[0-9]+$",
                      "description": "The id of the user, account, utility or product the asset belongs to; "
                                     "null for `global`, the caller by default for `user`."})
class ScopeIdField(serializers.Field):
    """An id as the API spells ids (a string; a number is taken too), or null."""

    default_error_messages = {"invalid": "An id (a string of digits) or null."}

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_representation(self, value):
        return str(value)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not is_id_text(str(data)):
            self.fail("invalid")
        return int(str(data))


class AssetSerializer(ModelSerializer):
    name = serializers.CharField(max_length=63, validators=[
        RegexValidator(ASSET_NAME_PATTERN, "Lower-case letters, digits and hyphens, 1 to 63 of them.")])
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    scope = serializers.ChoiceField(choices=Asset.Scope.choices)
    scope_id = ScopeIdField()
    content = AssetContentField()
    is_secret = StrictBooleanField(required=False)
    enabled = serializers.BooleanField(read_only=True)
    creator = ResourceRelatedField(read_only=True)
    merchants = ResourceRelatedField(many=True, required=False, queryset=Merchant.objects.all())

    included_serializers = {
        "creator": "accounts.api.serializers.UserSerializer",
        "merchants": MerchantSerializer,
    }

    class Meta:
        model = Asset
        fields = ["name", "description", "scope", "scope_id", "content", "is_secret", "enabled", "created",
                  "updated", "creator", "merchants"]
        read_only_fields = ["enabled", "created", "updated"]
        fixed_fields = ["scope", "scope_id", "is_secret"]
        writable_relationships = ["merchants"]  # also through /assets/{id}/relationships/merchants/
        validators = []

    def validate(self, attrs):
        if "content" in attrs and attrs["content"] is None:
            secret = self.instance.is_secret if self.instance is not None else attrs.get("is_secret", False)
            if not secret:
                raise serializers.ValidationError({"content": "Text (null is what a secret reads as)."})
            attrs.pop("content")  # a secret written back as read: no change
        return attrs


class AssetSecretSerializer(Serializer):
    """A secret's content, from `/api/v1/assets/{id}/secret/` only."""

    id = serializers.CharField()
    name = serializers.CharField()
    content = serializers.CharField()

    class Meta:
        resource_name = "AssetSecret"
