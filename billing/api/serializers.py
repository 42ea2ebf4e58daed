"""JSON:API shapes of product types, products, charges and merchants: validation only.
Coins are decimal strings on the wire."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_json_api.utils import get_resource_type_from_queryset

from billing.models import COIN, Charge, Merchant, Product, ProductType
from jsonapi.planning import CountField
from jsonapi.query import is_id_text
from jsonapi.serializers import ModelSerializer, ParentRelatedField, ResourceRelatedField, StrictIntegerField
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
