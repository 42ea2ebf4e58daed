"""FilterSets shared by the API and the portal's lists."""

from datetime import UTC, datetime, time

import django_filters

from billing.models import Asset, Charge, Product
from billing.periods import MAX_PRIOR_PERIODS
from jsonapi.errors import ApiError
from jsonapi.query import ChoiceListFilter, IdsFilter


class ProductFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    utility = IdsFilter(field_name="utility_id")
    account = IdsFilter(field_name="utility__account_id")
    product_type = IdsFilter(field_name="product_type_id")

    class Meta:
        model = Product
        fields = []


def _midnight(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


class ChargeFilterSet(django_filters.FilterSet):
    """The ledger, one billing period at a time by default.

    `filter[from]` (inclusive) and `filter[until]` (exclusive) are dates, read as 00:00 UTC
    and compared with `chargedAt`; `filter[pbp]=N` is the billing period N periods before
    the current one (0..23) of each charge's utility; with neither, the current period.
    """

    id = IdsFilter(field_name="id")
    product = IdsFilter(field_name="product_id")
    utility = IdsFilter(field_name="utility_id")
    account = IdsFilter(field_name="utility__account_id")
    kind = ChoiceListFilter(field_name="kind", choices=Charge.Kind.choices)
    pbp = django_filters.CharFilter(method="_by_period")

    class Meta:
        model = Charge
        fields = []

    def _by_period(self, queryset, name, value):
        return queryset  # applied in filter_queryset, which also knows whether a range was given

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        since, until, pbp = data.get("from"), data.get("until"), self.data.get("pbp")
        ranged = since is not None or until is not None
        if pbp not in (None, "") and ranged:
            raise ApiError("Give either `filter[pbp]` or `filter[from]`/`filter[until]`, not both.",
                           parameter="filter[pbp]")
        if ranged:
            if since is not None and until is not None and since > until:
                raise ApiError("`filter[from]` is after `filter[until]`.", parameter="filter[from]")
            if since is not None:
                queryset = queryset.filter(charged_at__gte=_midnight(since))
            if until is not None:
                queryset = queryset.filter(charged_at__lt=_midnight(until))
            return queryset
        return queryset.filter(Charge.in_period(_prior_periods(pbp)))


# `from` is a Python keyword: the filter is declared under its wire name directly.
ChargeFilterSet.base_filters["from"] = django_filters.DateFilter(field_name="charged_at", method="_by_period")
ChargeFilterSet.base_filters["until"] = django_filters.DateFilter(field_name="charged_at", method="_by_period")


def _prior_periods(raw) -> int:
    if raw in (None, ""):
        return 0
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_PRIOR_PERIODS:
        raise ApiError(f"`filter[pbp]` is a whole number of billing periods before the current one, "
                       f"0 to {MAX_PRIOR_PERIODS}.", parameter="filter[pbp]")
    return int(text)


class AssetFilterSet(django_filters.FilterSet):
    """`filter[scope]=utility,product`, `filter[scopeId]=12,13`, `filter[name]`, `filter[merchants]`."""

    id = IdsFilter(field_name="id")
    scope = ChoiceListFilter(field_name="scope", choices=Asset.Scope.choices)
    scope_id = IdsFilter(field_name="scope_id")
    name = django_filters.CharFilter(field_name="name")
    merchants = IdsFilter(field_name="merchants", distinct=True)

    class Meta:
        model = Asset
        fields = []
