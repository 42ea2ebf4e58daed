"""The staff face for billing: product types, products (with their latest charges, read-only),
the charges ledger (filterable by account, utility, period and kind, exported as CSV),
merchants and assets (a secret's content never shown); and a utility's products on the
utility's page.

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
from billing.models import Asset, Charge, Merchant, Product, ProductType, content_size_ok
from billing.periods import MAX_PRIOR_PERIODS
from core.admin import ServiceInline, ServiceModelAdmin, Writes
from core.errors import Forbidden
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


# --------------------------------------------------------------------------- assets

SECRET_SHOWN_AS = _("(secret: never shown)")


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never shows a value: what is typed in is sent, nothing comes back."""

    def format_value(self, value):
        return None


class AssetForm(forms.ModelForm):
    """A secret's content is write-only here too: the field starts empty, and left empty it
    keeps the secret; anything typed replaces it (encrypted by the service)."""

    content = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 6}),
                              help_text=_("At most 64 KiB (UTF-8). For a secret: never shown; leave empty to keep "
                                          "it, type to replace it."))

    class Meta:
        model = Asset
        fields = ("name", "description", "scope", "scope_id", "is_secret", "content", "merchants")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        secret = self.instance.is_secret if self.instance.pk is not None else (
            self.is_bound and self.fields["is_secret"].widget.value_from_datadict(self.data, self.files,
                                                                                  self.add_prefix("is_secret")))
        if secret:
            # Never rendered back, also not on a refused form (a textarea: keys span lines).
            self.initial["content"] = ""
            self.fields["content"].widget = WriteOnlyTextarea(attrs={"rows": 6, "autocomplete": "off"})

    def clean_content(self):
        content = self.cleaned_data.get("content") or ""
        if not content_size_ok(content):
            raise forms.ValidationError(_("At most 64 KiB (65536 bytes as UTF-8)."))
        return content

    def _post_clean(self):
        # The row is written by the service (which encrypts); the model's own checks must not
        # see a secret's plaintext in the plain column.
        content = self.cleaned_data.pop("content", "")
        super()._post_clean()
        self.cleaned_data["content"] = content
        if self.instance.pk is not None:
            self.instance.content = Asset.objects.filter(pk=self.instance.pk).values_list("content", flat=True).first()
        else:
            self.instance.content = ""


@admin.register(Asset)
class AssetAdmin(ServiceModelAdmin):
    form = AssetForm
    list_display = ("name", "scope", "scope_id", "is_secret", "enabled", "shown_content", "updated")
    list_filter = ("scope", "is_secret", "enabled", ("merchants", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "description")
    ordering = ("name", "id")
    filter_horizontal = ("merchants",)
    actions = ("enable_assets", "disable_assets")
    object_permissions = {"change": "billing.change_asset", "delete": "billing.delete_asset"}

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("scope", "scope_id", "is_secret", "enabled", "creator", "created", "updated")

    def get_fields(self, request, obj=None):
        fields = ("name", "description", "scope", "scope_id", "is_secret", "content", "merchants")
        return fields if obj is None else (*fields, "enabled", "creator", "created", "updated")

    @admin.display(description=_("content"))
    def shown_content(self, obj):
        if obj.is_secret:
            return SECRET_SHOWN_AS
        return obj.content if len(obj.content) <= 60 else f"{obj.content[:60]}…"

    def create(self, request, form):
        data = form.cleaned_data
        target = services.asset_scope_target(actor=request.user, scope=data["scope"], scope_id=data.get("scope_id"))
        return services.asset_create(actor=request.user, name=data["name"], scope=data["scope"], target=target,
                                     description=data.get("description", ""), content=data.get("content", ""),
                                     is_secret=bool(data.get("is_secret")), merchants=data.get("merchants") or ())

    def update(self, request, obj, form):
        data = {name: form.cleaned_data[name] for name in ("name", "description", "merchants")
                if name in form.changed_data}
        content = form.cleaned_data.get("content", "")
        if obj.is_secret:
            if content:
                data["content"] = content
        elif "content" in form.changed_data:
            data["content"] = content
        if "merchants" in data:
            data["merchants"] = list(data["merchants"])
        if data:
            services.asset_update(actor=request.user, asset=obj, data=data)
        obj.refresh_from_db()

    def delete(self, request, obj):
        services.asset_delete(actor=request.user, asset=obj)

    def _toggle(self, request, queryset, enabled):
        for asset in queryset.order_by("pk"):
            if not request.user.has_perm("billing.change_asset", asset):
                raise Forbidden(f"You may not change {asset}.")
            services.asset_set_enabled(actor=request.user, asset=asset, enabled=enabled)

    @admin.action(description=_("Enable the selected assets"), permissions=["change"])
    def enable_assets(self, request, queryset):
        self._toggle(request, queryset, True)

    @admin.action(description=_("Disable the selected assets"), permissions=["change"])
    def disable_assets(self, request, queryset):
        self._toggle(request, queryset, False)


# --------------------------------------------------------------------------- deletion summaries
#
# Deleting an account, utility, product or user deletes their assets too
# (`billing.services.delete_scope_assets`), but an asset names its scope by id, not by a
# foreign key, so Django's "are you sure?" page would not list them. The admins of those
# models count them in, for every object the deletion reaches (a cascade included).


def assets_reached_by(objs):
    """The assets deleting `objs` deletes: those of every account, utility, product and user
    the deletion collects."""
    from django.contrib.admin.utils import NestedObjects
    from django.db import router
    from django.db.models import Q

    objs = list(objs)
    if not objs:
        return Asset.objects.none()
    collector = NestedObjects(using=router.db_for_write(type(objs[0])))
    collector.collect(objs)
    reached = Q(pk__in=[])
    for model, instances in collector.data.items():
        scope = services.SCOPE_MODELS.get(model._meta.label)
        if scope is not None:
            reached |= Q(scope=scope, scope_id__in=[instance.pk for instance in instances])
    return Asset.objects.filter(reached)


def _counting_assets(model_admin_class):
    original = model_admin_class.get_deleted_objects

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = original(self, objs, request)
        assets = list(assets_reached_by(objs).order_by("name", "id"))
        if assets:
            model_count[Asset._meta.verbose_name_plural] = len(assets)
            deleted.append([format_html("{}: {}", Asset._meta.verbose_name.capitalize(), asset) for asset in assets])
        return deleted, model_count, perms_needed, protected

    model_admin_class.get_deleted_objects = get_deleted_objects


def count_assets_in_deletion_summaries(site=admin.site):
    from accounts.models import Account, User
    from memberships.models import Utility

    for model in (Account, Utility, Product, User):
        model_admin = site._registry.get(model)
        if model_admin is not None and not getattr(type(model_admin), "_counts_assets", False):
            _counting_assets(type(model_admin))
            type(model_admin)._counts_assets = True


count_assets_in_deletion_summaries()


from billing.events import admin as event_stream_admin  # noqa: E402,F401 (registers EventStreamAdmin)
