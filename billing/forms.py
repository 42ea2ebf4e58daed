"""The portal's product forms. They validate input only; views write through `billing.services`."""

from django import forms

from accounts.forms import ServiceErrorsMixin
from billing.models import ProductType


class ProductCreateForm(ServiceErrorsMixin, forms.Form):
    product_type = forms.ModelChoiceField(queryset=ProductType.objects.order_by("name", "code"), label="Product type",
                                          empty_label=None)
    name = forms.CharField(max_length=200)
    flavour = forms.CharField(max_length=64, required=False,
                              help_text="One of the type's flavours, when it has any (e.g. BRONZE).")
    allowance = forms.IntegerField(min_value=0, required=False,
                                   help_text="Whole coins included per billing period; leave empty when the "
                                             "flavour fixes it.")
    limit = forms.IntegerField(min_value=0, required=False,
                               help_text="Most coins per billing period (0: no cap); empty: the allowance.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "product-%s")
        super().__init__(*args, **kwargs)
        flavours = sorted({flavour for types in ProductType.objects.values_list("flavours", flat=True)
                           for flavour in (types or [])})
        if flavours:
            self.fields["flavour"] = forms.ChoiceField(
                required=False, choices=[("", "None (types without flavours)")] + [(f, f) for f in flavours],
                help_text="Required for types with flavours; a flavour may fix the allowance and limit.")


class ProductEditForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200)
    allowance = forms.IntegerField(min_value=0, help_text="Whole coins included per billing period.")
    limit = forms.IntegerField(min_value=0, help_text="Most coins per billing period; 0: no cap.")

    def __init__(self, *args, fixed: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "edit-%s")
        super().__init__(*args, **kwargs)
        if fixed:
            for name in ("allowance", "limit"):
                # A disabled field keeps its initial value whatever is posted.
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed by the product's flavour."
