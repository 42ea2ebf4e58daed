"""The JSON:API face of product types, products, charges and merchants. Views call services."""

from django.conf import settings
from django.db.models import Count, Q

from billing import services
from billing.api.serializers import (
    ChargeSerializer,
    MerchantSerializer,
    ProductSerializer,
    ProductTypeSerializer,
    coins_text,
)
from billing.filtersets import ChargeFilterSet, ProductFilterSet
from billing.models import Charge, Merchant, Product, ProductType, coin, coin_sum
from core.rules import SITE_ADMINS_ONLY
from jsonapi.pagination import IdsFirstPagination
from jsonapi.viewsets import CreateModelMixin, ListModelMixin, RetrieveModelMixin, RosterModelViewSet, RosterViewSet


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
