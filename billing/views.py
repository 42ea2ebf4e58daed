"""The portal's billing pages of a utility: its products (usage against the limit, create,
edit, delete for its admins) and its charges per billing period, as a chart drawn on the
server with the totals by kind.

Reads go through `for_user()` (unseen is 404); every decision is `has_perm()` with the rules
the API uses (seen but not allowed is 403); writes go through `billing.services`.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from billing import services
from billing.charts import period_chart
from billing.forms import ProductCreateForm, ProductEditForm
from billing.models import Charge, Product, coin, coin_sum
from billing.periods import MAX_PRIOR_PERIODS, months_before, period_before, period_containing, today_utc
from core.portal import (
    SERVICE_ERRORS,
    PageActionView,
    forbidden_to_403,
    say,
    service_error_message,
    stash_form,
    unstash_form,
)
from memberships.views import UtilityMixin

CHARGES_PAGE_SIZE = 50
CHART_PERIODS = 12


# --------------------------------------------------------------------------- products


class ProductListView(UtilityMixin, TemplateView):
    """A utility's products with this period's usage; the create form for its admins."""

    template_name = "billing/product_list.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        utility = self.get_utility()
        products = list(Product.objects.for_user(user).filter(utility=utility).with_usage()
                        .select_related("product_type").order_by("name", "id"))
        can_add = user.has_perm("billing.add_product", utility)
        for product in products:
            product.utility = utility
            product.can_change = user.has_perm("billing.change_product", product)
            product.can_delete = user.has_perm("billing.delete_product", product)
            product.share = (min(100, int(product.coins_used * 100 / product.limit))
                             if product.limit else None)
        if can_add:
            kwargs.setdefault("product_form", unstash_form(self.request, "product_form", ProductCreateForm)
                              or ProductCreateForm())
        return super().get_context_data(**self.tabs_context(utility, "products"), products=products,
                                        can_add=can_add, **kwargs)


class ProductActionView(UtilityMixin, PageActionView):
    page_url_name = "product_list"
    anchor = "products"

    def get_product(self, utility) -> Product:
        product = get_object_or_404(
            Product.objects.for_user(self.request.user).filter(utility=utility).select_related("product_type"),
            pk=self.kwargs["product_pk"])
        product.utility = utility
        return product


class ProductCreateView(ProductActionView):
    def post(self, request, *args, **kwargs):
        utility = self.get_utility()
        self.require("billing.add_product", utility, "Only the utility's admins (and its account's) add products.")
        form = ProductCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                product = services.product_create(
                    actor=request.user, utility=utility, product_type=data["product_type"], name=data["name"],
                    flavour=data["flavour"], allowance=data["allowance"], limit=data["limit"])
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                self.success(f"The product {product.name} is created.")
                return self.back_to_page()
        return self.form_failed("product_form", form)


class ProductEditView(UtilityMixin, TemplateView):
    """Rename a product, or change its allowance and limit where its flavour does not fix them."""

    template_name = "billing/product_form.html"

    def get_product(self):
        utility = self.get_utility()
        product = get_object_or_404(
            Product.objects.for_user(self.request.user).filter(utility=utility).select_related("product_type"),
            pk=self.kwargs["product_pk"])
        product.utility = utility
        self.require("billing.change_product", product, "Only the utility's admins change its products.")
        return product

    @staticmethod
    def fixed(product) -> bool:
        return bool(product.flavour) and product.product_type.fixed_for(product.flavour) is not None

    def form_for(self, product, data=None):
        return ProductEditForm(data, fixed=self.fixed(product),
                               initial={"name": product.name, "allowance": product.allowance, "limit": product.limit})

    def get_context_data(self, **kwargs):
        product = self.get_product()
        form = unstash_form(self.request, f"product_edit_{product.pk}", lambda data: self.form_for(product, data))
        kwargs.setdefault("form", form or self.form_for(product))
        return super().get_context_data(**self.tabs_context(product.utility, "products"), product=product, **kwargs)

    def post(self, request, *args, **kwargs):
        product = self.get_product()
        form = self.form_for(product, request.POST)
        if form.is_valid():
            try:
                services.product_update(actor=request.user, product=product, data=dict(form.cleaned_data))
            except SERVICE_ERRORS as exc:
                forbidden_to_403(exc)
                form.add_service_error(exc)
            else:
                say(request, messages.SUCCESS, f"The product {form.cleaned_data['name']} is saved.",
                    section="products")
                return redirect(reverse("product_list", args=[product.utility_id]) + "#products")
        stash_form(request, f"product_edit_{product.pk}", form)
        return redirect(request.path)


class ProductDeleteView(ProductActionView):
    confirm_template = "portal/confirm.html"

    def checked_product(self):
        product = self.get_product(self.get_utility())
        self.require("billing.delete_product", product, "Only the utility's admins delete its products.")
        return product

    def confirm_context(self):
        product = self.checked_product()
        return {"question": f"Delete the product {product.name}?",
                "detail": "A product that has charges cannot be deleted: the ledger keeps every charge.",
                "button": "Delete the product"}

    def post(self, request, *args, **kwargs):
        product = self.checked_product()
        try:
            services.product_delete(actor=request.user, product=product)
        except SERVICE_ERRORS as exc:
            forbidden_to_403(exc)
            self.error(service_error_message(exc))
        else:
            self.success(f"The product {product.name} is deleted.")
        return self.back_to_page()


# --------------------------------------------------------------------------- charges


def selected_period(value) -> int:
    """`pbp` from the query: 0..23 periods before the current; anything else is the current."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if 0 <= number <= MAX_PRIOR_PERIODS else 0


class ChargeListView(UtilityMixin, TemplateView):
    """A utility's charges per billing period: a chart of a year of periods, the selected
    period's totals by kind, and its charges."""

    template_name = "billing/charge_list.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        utility = self.get_utility()
        if not user.has_perm("billing.view_charge", utility):
            raise PermissionDenied("A utility's charges are for its admins and its account's admins and consultants.")
        pbp = selected_period(self.request.GET.get("pbp"))
        today = today_utc()
        current = period_containing(utility.billing_day, timezone.now())
        ledger = Charge.objects.for_user(user).filter(utility=utility)

        # A year of periods around the selected one, summed by period and kind in one query.
        newest = 0 if pbp < CHART_PERIODS else CHART_PERIODS
        window = [(n, period_before(current, n)) for n in range(newest + CHART_PERIODS - 1, newest - 1, -1)]
        oldest_day, newest_day = months_before(today, window[0][0]), months_before(today, window[-1][0])
        rows = (ledger.filter(billing_period_end__gt=oldest_day, billing_period_start__lte=newest_day)
                .order_by().values("billing_period_start", "billing_period_end", "kind")
                .annotate(total=coin_sum()))
        # A charge belongs to period N when it recorded the period holding the day N months ago
        # (Charge.in_period), whatever billing day the utility had then.
        reference = {n: months_before(today, n) for n, _ in window}
        starts = dict(window)
        totals = {}
        for row in rows:
            for n, day in reference.items():
                if row["billing_period_start"] <= day < row["billing_period_end"]:
                    key = (starts[n].start, row["kind"])
                    totals[key] = totals.get(key, 0) + coin(row["total"])
        kinds = list(Charge.Kind.values)
        chart = period_chart(window, totals, kinds, pbp)

        selected = ledger.filter(Charge.in_period(pbp, today=today))
        by_kind = {f"kind_{kind}": coin_sum(filter=Q(kind=kind)) for kind in kinds}
        sums = selected.order_by().aggregate(rows=Count("pk"), total=coin_sum(), **by_kind)
        page = Paginator(selected.select_related("product", "merchant").order_by("-charged_at", "-id"),
                         CHARGES_PAGE_SIZE).get_page(self.request.GET.get("page"))
        return super().get_context_data(
            **self.tabs_context(utility, "charges"),
            pbp=pbp,
            period=period_before(current, pbp),
            chart=chart,
            total=coin(sums["total"]),
            totals_by_kind=[(kind, coin(sums[f"kind_{kind}"])) for kind in kinds],
            charge_count=sums["rows"],
            page_obj=page,
            period_choices=[(n, period_before(current, n)) for n in range(MAX_PRIOR_PERIODS + 1)],
            **kwargs,
        )
