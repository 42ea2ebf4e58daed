"""The JSON:API face of product types, products, charges and merchants. Views call services."""

from django.conf import settings
from django.db.models import Count, Q
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from billing import services
from billing.api.serializers import (
    AssetSecretSerializer,
    AssetSerializer,
    ChargeSerializer,
    MerchantSerializer,
    ProductSerializer,
    ProductTypeSerializer,
    coins_text,
)
from billing.filtersets import AssetFilterSet, ChargeFilterSet, ProductFilterSet
from billing.models import Asset, Charge, Merchant, Product, ProductType, coin, coin_sum
from core.errors import Forbidden
from core.rules import SITE_ADMINS_ONLY
from jsonapi.pagination import IdsFirstPagination
from jsonapi.viewsets import (
    CreateModelMixin,
    ListModelMixin,
    RetrieveModelMixin,
    RosterAPIView,
    RosterModelViewSet,
    RosterViewSet,
)


class ProductTypeViewSet(ListModelMixin, RetrieveModelMixin, RosterViewSet):
    """Read-only: site admins manage product types in the admin (writes are 405 here)."""

    queryset = ProductType.objects.all()
    serializer_class = ProductTypeSerializer
    ordering_fields = ["code", "name", "created"]
    ordering = ("code", "id")

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["meta"]["defaultStorageCost"] = coins_text(settings.ROSTER_DEFAULT_STORAGE_COST)
        return response


class ProductViewSet(RosterModelViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filterset_class = ProductFilterSet
    ordering_fields = ["name", "created", "allowance", "limit"]
    ordering = ("name", "id")
    error_statuses = {"delete": (409,)}  # has_charges: the ledger keeps every charge

    parent_field = "utility"
    parent_permission = "billing.add_product"
    parent_refusal = "Only the utility's admins (and its account's) add products."

    def get_queryset(self):
        queryset = super().get_queryset()
        # Lists render ids only; one product needs its utility and account for the rules.
        return queryset if self.action == "list" else queryset.select_related("utility__account")

    def _fresh(self, product):
        return self.get_queryset().get(pk=product.pk)

    def perform_create(self, serializer):
        data = serializer.validated_data
        self.check_parent(data["utility"])
        product = services.product_create(
            actor=self.request.user, utility=data["utility"], product_type=data["product_type"], name=data["name"],
            flavour=data.get("flavour", ""), allowance=data.get("allowance"), limit=data.get("limit"))
        serializer.instance = self._fresh(product)

    def perform_update(self, serializer):
        product = services.product_update(actor=self.request.user, product=serializer.instance,
                                          data=dict(serializer.validated_data))
        serializer.instance = self._fresh(product)

    def perform_destroy(self, instance):
        services.product_delete(actor=self.request.user, product=instance)


def ledger_totals(queryset) -> tuple[int, dict]:
    """How many charges `queryset` holds, and `meta.total` and `meta.totalsByKind` over all
    of them: one aggregate query."""
    by_kind = {f"kind_{kind}": coin_sum(filter=Q(kind=kind)) for kind in Charge.Kind.values}
    sums = queryset.order_by().aggregate(rows=Count("pk"), total=coin_sum(), **by_kind)
    return sums["rows"], {
        "total": coins_text(coin(sums["total"])),
        "totalsByKind": {kind: coins_text(coin(sums[f"kind_{kind}"])) for kind in Charge.Kind.values},
    }


class ChargePagination(IdsFirstPagination):
    """The ledger's pages: the totals are summed in the query that counts the rows."""

    totals = None

    def django_paginator_class(self, queryset, per_page):
        paginator = super().django_paginator_class(queryset, per_page)
        count, self.totals = ledger_totals(queryset)
        paginator.__dict__["count"] = count  # Paginator.count is a cached_property
        return paginator


class ChargeViewSet(ListModelMixin, RetrieveModelMixin, CreateModelMixin, RosterViewSet):
    """The append-only ledger: no PATCH, no DELETE (405)."""

    queryset = Charge.objects.all()
    serializer_class = ChargeSerializer
    filterset_class = ChargeFilterSet
    pagination_class = ChargePagination
    ordering_fields = ["charged_at", "amount", "kind", "created"]
    ordering = ("-charged_at", "-id")
    create_permission = "billing.add_charge"
    error_statuses = {"post": (409,)}  # coin_limit_exceeded

    def paginate_queryset(self, queryset):
        self.filtered = queryset
        return super().paginate_queryset(queryset)

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        totals = getattr(self.paginator, "totals", None) or ledger_totals(self.filtered)[1]
        response.data["meta"].update(totals)
        return response

    def filter_queryset(self, queryset):
        if self.action != "list":
            # One charge is found by its id whatever its billing period: only the list is
            # limited to a period (by default the current one).
            backends = [backend for backend in self.filter_backends if backend.__name__ != "FilterBackend"]
            for backend in backends:
                queryset = backend().filter_queryset(self.request, queryset, self)
            builder = getattr(self, "_fast_builder", None)
            return queryset if builder is None else builder.prepare(queryset)
        return super().filter_queryset(queryset)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.charge_create(
            actor=self.request.user, product=data["product"], kind=data["kind"], amount=data["amount"],
            description=data.get("description", ""), additional_data=data.get("additional_data"),
            charged_at=data.get("charged_at"), merchant=data.get("merchant"))


class MerchantViewSet(RosterModelViewSet):
    queryset = Merchant.objects.all()
    serializer_class = MerchantSerializer
    create_permission = SITE_ADMINS_ONLY  # SPEC: merchants are written by site admins
    ordering_fields = ["name", "kind", "created"]
    ordering = ("name", "id")
    error_statuses = {"delete": (409,)}  # has_charges: the ledger keeps who charged

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.merchant_create(actor=self.request.user, name=data["name"], kind=data["kind"],
                                                       url=data.get("url", ""))

    def perform_update(self, serializer):
        serializer.instance = services.merchant_update(actor=self.request.user, merchant=serializer.instance,
                                                       data=dict(serializer.validated_data))

    def perform_destroy(self, instance):
        services.merchant_delete(actor=self.request.user, merchant=instance)


class AssetViewSet(RosterModelViewSet):
    """Assets of a scope (SPEC §3). Creating resolves the scope object first, as a parent is:
    404 when the caller cannot see it, 403 when they may not write its assets, before the
    rest of the body is looked at."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
    filterset_class = AssetFilterSet
    ordering_fields = ["name", "scope", "created", "updated"]
    ordering = ("name", "id")
    error_statuses = {"post": (404,)}  # a scope object the caller cannot see

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action == "create":
            self._scope_target()

    def _scope_target(self):
        if not hasattr(self, "_target"):
            data = self.request.data if isinstance(self.request.data, dict) else {}
            scope = data.get("scope")
            if not isinstance(scope, str) or scope not in Asset.Scope.values:
                return None  # the serializer says what is wrong with it
            self._target = services.asset_scope_target(actor=self.request.user, scope=scope,
                                                       scope_id=data.get("scope_id"))
        return self._target

    def _fresh(self, asset):
        return self.get_queryset().get(pk=asset.pk)

    def perform_create(self, serializer):
        data = serializer.validated_data
        asset = services.asset_create(
            actor=self.request.user, name=data["name"], scope=data["scope"], target=self._scope_target(),
            description=data.get("description", ""), content=data.get("content", ""),
            is_secret=data.get("is_secret", False), merchants=data.get("merchants", ()))
        serializer.instance = self._fresh(asset)

    def perform_update(self, serializer):
        asset = services.asset_update(actor=self.request.user, asset=serializer.instance,
                                      data=dict(serializer.validated_data))
        serializer.instance = self._fresh(asset)

    def perform_destroy(self, instance):
        services.asset_delete(actor=self.request.user, asset=instance)

    def _toggle(self, request, enabled):
        asset = self.get_object()
        if not request.user.has_perm("billing.change_asset", asset):
            raise Forbidden("Only those who write this asset's scope enable or disable it.")
        asset = services.asset_set_enabled(actor=request.user, asset=asset, enabled=enabled)
        return Response(self.get_serializer(self._fresh(asset)).data)

    @extend_schema(summary="Enable the asset", request=None,
                   description="For those who write the asset's scope (403 for other readers); answers the asset.")
    @action(detail=True, methods=["post"], url_path="enable", request_body_required=False)
    def enable(self, request, pk=None):
        return self._toggle(request, True)

    @extend_schema(summary="Disable the asset", request=None,
                   description="For those who write the asset's scope (403 for other readers); answers the asset.")
    @action(detail=True, methods=["post"], url_path="disable", request_body_required=False)
    def disable(self, request, pk=None):
        return self._toggle(request, False)


@extend_schema_view(get=extend_schema(
    summary="A secret asset's content, for holders of billing.view_secret_asset",
    description="404 when the caller cannot see the asset (or it is no secret), 403 when they see it but hold "
                "no `billing.view_secret_asset`. Answered with `Cache-Control: no-store`.",
    responses=AssetSecretSerializer))
class AssetSecretView(RosterAPIView):
    """GET `/api/v1/assets/{id}/secret/`: the one place a secret's content leaves the server."""

    resource_name = "AssetSecret"
    error_statuses = {"get": (403,)}

    def get(self, request, pk):
        asset = Asset.objects.for_user(request.user).filter(pk=pk).first()
        if asset is None:
            raise Http404
        content = services.asset_secret(actor=request.user, asset=asset)
        data = AssetSecretSerializer({"id": str(asset.pk), "name": asset.name, "content": content}).data
        response = Response(data)
        response["Cache-Control"] = "no-store"
        return response
