"""The staff face for billing: product types, products (with their latest charges, read-only),
the charges ledger (filterable by account, utility, period and kind, exported as CSV) and
merchants; and a utility's products on the utility's page.

Writes go through `billing.services`, so flavour rules, the coin limit, has_charges and the
audit log hold here as they do in the API.
"""

import csv

from django import forms
from django.contrib import admin
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from billing import services
from billing.models import Charge, Merchant, Product, ProductType
from billing.periods import MAX_PRIOR_PERIODS
from core.admin import ServiceInline, ServiceModelAdmin, Writes
from memberships.admin import UtilityAdmin

PRODUCT_WRITES = Writes(services, "product", fields=("utility", "product_type", "name", "flavour", "allowance",
                                                      "limit"))
#: charges shown on a product's page; the ledger holds the rest
INLINE_CHARGES = 50


def _coins_or_none(cleaned, product_type, flavour):
    """The allowance and limit a product form passes on: none when the flavour fixes them."""
    if product_type is not None and product_type.fixed_for(flavour or ""):
        return None, None
    return cleaned.get("allowance"), cleaned.get("limit")


def create_product(actor, values):
    allowance, limit = _coins_or_none(values, values.get("product_type"), values.get("flavour"))
    return services.product_create(actor=actor, utility=values["utility"], product_type=values["product_type"],
                                   name=values["name"], flavour=values.get("flavour") or "",
                                   allowance=allowance, limit=limit)


# --------------------------------------------------------------------------- product types


@admin.register(ProductType)
class ProductTypeAdmin(ServiceModelAdmin):
    list_display = ("code", "name", "monthly_fee", "storage_cost", "flavour_list")
    search_fields = ("code", "name")
    ordering = ("code",)
    fields = services.PRODUCT_TYPE_FIELDS
    writes = Writes(services, "product_type", fields=services.PRODUCT_TYPE_FIELDS)

    @admin.display(description=_("flavours"))
    def flavour_list(self, obj):
        return ", ".join(obj.flavours or []) or "-"


# --------------------------------------------------------------------------- products


class ProductForm(forms.ModelForm):
    limit = forms.IntegerField(required=False, min_value=0, help_text=_("coins; 0: no cap; empty: the allowance"))
    allowance = forms.IntegerField(required=False, min_value=0,
                                   help_text=_("coins included per billing period; left out when the flavour "
                                               "fixes it"))

    class Meta:
        model = Product
        fields = ("utility", "product_type", "name", "flavour", "allowance", "limit")

    def clean(self):
        cleaned = super().clean()
        # The flavour's fixed coins, or the limit defaulting to the allowance, before the model's
        # own checks (limit ≥ allowance) look at the row.
        product_type = cleaned.get("product_type") or getattr(self.instance, "product_type", None)
        flavour = cleaned.get("flavour", self.instance.flavour)
        fixed = product_type.fixed_for(flavour) if product_type is not None and flavour else None
        if fixed is not None and self.instance.pk is None:
            self.instance.allowance, self.instance.limit = fixed["allowance"], fixed["limit"]
            cleaned["allowance"], cleaned["limit"] = None, None
        elif cleaned.get("limit") is None and cleaned.get("allowance") is not None:
            cleaned["limit"] = cleaned["allowance"]
        return cleaned

    def _post_clean(self):
        allowance, limit = self.cleaned_data.get("allowance"), self.cleaned_data.get("limit")
        super()._post_clean()
        # The form's empty values are not the row's: the service fills them in.
        if allowance is None:
            self.instance.allowance = self.instance.allowance or 0
        if limit is None:
            self.instance.limit = self.instance.limit or 0


class ChargeInline(ServiceInline, admin.TabularInline):
    """A product's latest charges, read-only: the ledger is append-only."""

    model = Charge
    fields = ("charged_at", "kind", "amount", "description", "merchant", "billing_period_start")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("latest charges (all of them are in the ledger)")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_rows(self, request, formset) -> None:
        """Nothing to write: every row is read-only (the formset still sorts its rows, as the
        admin's change message reads them)."""
        formset.save(commit=False)


@admin.register(Product)
class ProductAdmin(ServiceModelAdmin):
    form = ProductForm
    list_display = ("name", "utility", "account", "product_type", "flavour", "allowance", "limit", "coins_used",
                    "ledger")
    list_select_related = ("utility__account", "product_type")
    list_filter = ("product_type", ("utility__account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "utility__name", "utility__account__name")
    autocomplete_fields = ("utility",)
    ordering = ("utility__name", "name", "id")
    inlines = (ChargeInline,)
    writes = PRODUCT_WRITES
    object_permissions = {"change": "billing.change_product", "delete": "billing.delete_product"}

    def get_queryset(self, request):
        return super().get_queryset(request).with_usage()

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("utility", "product_type", "flavour", "created", "updated")

    def get_fields(self, request, obj=None):
        fields = ("utility", "product_type", "name", "flavour", "allowance", "limit")
        return fields if obj is None else (*fields, "created", "updated")

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, ChargeInline) and obj is not None and obj.pk is not None:
            latest = obj.charges.order_by("-charged_at", "-id").values_list("pk", flat=True)[:INLINE_CHARGES]
            kwargs["queryset"] = Charge.objects.filter(pk__in=list(latest)).select_related("merchant").order_by(
                "-charged_at", "-id")
        return kwargs

    @admin.display(description=_("account"), ordering="utility__account__name")
    def account(self, obj):
        return obj.utility.account

    @admin.display(description=_("coins this period"), ordering="coins_used")
    def coins_used(self, obj):
        return obj.coins_used

    @admin.display(description=_("ledger"))
    def ledger(self, obj):
        url = reverse("admin:billing_charge_changelist") + f"?product__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("charges"))

    def create(self, request, form):
        return create_product(request.user, form.cleaned_data)

    def update(self, request, obj, form):
        data = {name: form.cleaned_data[name] for name in ("name", "allowance", "limit") if name in form.changed_data}
        if data:
            services.product_update(actor=request.user, product=obj, data=data)
        obj.refresh_from_db()

    def rows_to_delete(self, queryset):
        return queryset.order_by("pk")


# --------------------------------------------------------------------------- the ledger


class PeriodFilter(admin.SimpleListFilter):
    """The billing period of each charge's utility: the current one or N before it."""

    title = _("billing period")
    parameter_name = "pbp"

    def lookups(self, request, model_admin):
        names = [("0", _("current period"))]
        return names + [(str(n), _("%(n)d before the current") % {"n": n}) for n in range(1, MAX_PRIOR_PERIODS + 1)]

    def queryset(self, request, queryset):
        value = self.value()
        if value is not None and value.isdigit() and int(value) <= MAX_PRIOR_PERIODS:
            return queryset.filter(Charge.in_period(int(value)))
        return queryset


class ChargeForm(forms.ModelForm):
    class Meta:
        model = Charge
        fields = ("product", "kind", "amount", "description", "additional_data", "charged_at", "merchant")


CSV_COLUMNS = ("id", "charged_at", "account", "utility", "product", "kind", "amount", "billing_period_start",
               "billing_period_end", "merchant", "description")


class _Echo:
    def write(self, value):
        return value


@admin.register(Charge)
class ChargeAdmin(ServiceModelAdmin):
    """The ledger: append-only (a charge is added, e.g. a credit, never changed or deleted)."""

    form = ChargeForm
    list_display = ("charged_at", "amount", "kind", "product", "utility", "account", "billing_period_start",
                    "merchant")
    list_select_related = ("product", "utility__account", "merchant")
    list_filter = (PeriodFilter, "kind", ("utility__account", admin.RelatedOnlyFieldListFilter),
                   ("utility", admin.RelatedOnlyFieldListFilter))
    search_fields = ("description", "product__name", "utility__name")
    autocomplete_fields = ("product",)
    date_hierarchy = "charged_at"
    ordering = ("-charged_at", "-id")
    actions = ("export_csv",)
    writes = Writes(services, "charge", fields=("product", "kind", "amount", "description", "additional_data",
                                                 "charged_at", "merchant"))
    show_full_result_count = False

    @admin.display(description=_("account"), ordering="utility__account__name")
    def account(self, obj):
        return obj.utility.account

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else (*self.writes.fields, "utility", "billing_period_start", "billing_period_end",
                                       "created")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Export the selected charges as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        rows = queryset.select_related("product", "utility__account", "merchant").order_by("charged_at", "id")
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow(CSV_COLUMNS)
            for charge in rows.iterator(chunk_size=2000):
                yield writer.writerow([
                    charge.pk, charge.charged_at.isoformat(), charge.utility.account.name, charge.utility.name,
                    charge.product.name, charge.kind, f"{charge.amount:f}", charge.billing_period_start.isoformat(),
                    charge.billing_period_end.isoformat(), charge.merchant.name if charge.merchant else "",
                    _csv_safe(charge.description)])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="charges.csv"'
        return response


def _csv_safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --------------------------------------------------------------------------- merchants


class MerchantForm(forms.ModelForm):
    url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Merchant
        fields = services.MERCHANT_FIELDS


@admin.register(Merchant)
class MerchantAdmin(ServiceModelAdmin):
    form = MerchantForm
    list_display = ("name", "kind", "url", "created")
    search_fields = ("name", "kind")
    ordering = ("name",)
    fields = services.MERCHANT_FIELDS
    writes = Writes(services, "merchant", fields=services.MERCHANT_FIELDS)


# --------------------------------------------------------------------------- a utility's products


class ProductInlineForm(ProductForm):
    actor = None  # who is acting, set per request by ServiceInline.get_formset

    class Meta(ProductForm.Meta):
        fields = ("name", "product_type", "flavour", "allowance", "limit")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # A product's type and flavour are fixed once it exists.
            self.fields["product_type"].disabled = True
            self.fields["flavour"].disabled = True


class ProductInline(ServiceInline, admin.TabularInline):
    """A utility's products, written through the product services."""

    model = Product
    form = ProductInlineForm
    fields = ("name", "product_type", "flavour", "allowance", "limit", "created")
    readonly_fields = ("created",)
    extra = 0
    show_change_link = True
    writes = PRODUCT_WRITES

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product_type").order_by("name", "id")

    def create(self, request, obj):
        values = {name: getattr(obj, name) for name in PRODUCT_WRITES.fields}
        return create_product(request.user, values)

    def update(self, request, obj, fields):
        data = {name: getattr(obj, name) for name in fields if name in ("name", "allowance", "limit")}
        if data:
            services.product_update(actor=request.user, product=obj, data=data)


# The utility page lists its products; memberships, the lower layer, cannot name them.
UtilityAdmin.inlines = (*UtilityAdmin.inlines, ProductInline)


from billing.events import admin as event_stream_admin  # noqa: E402,F401 (registers EventStreamAdmin)
