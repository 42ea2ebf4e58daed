"""The staff face for address-book entries: added or removed through the contact services,
never changed."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import Contact
from core.admin import ServiceModelAdmin


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ("owner", "contact")

    def clean(self):
        cleaned = super().clean()
        owner, contact = cleaned.get("owner"), cleaned.get("contact")
        if owner is not None and contact is not None and owner.pk == contact.pk:
            raise ValidationError({"contact": _("A user cannot be their own contact.")})
        return cleaned


@admin.register(Contact)
class ContactAdmin(ServiceModelAdmin):
    form = ContactForm
    list_display = ("owner", "contact", "created")
    list_select_related = ("owner", "contact")
    search_fields = ("owner__email", "contact__email")
    autocomplete_fields = ("owner", "contact")
    date_hierarchy = "created"
    ordering = ("-created", "-id")

    def get_fields(self, request, obj=None):
        return ("owner", "contact", "created") if obj is not None else ("owner", "contact")

    def get_readonly_fields(self, request, obj=None):
        return ("owner", "contact", "created") if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        # An address-book entry is added or removed, never changed.
        return False

    def create(self, request, form):
        return services.contact_create(owner=form.cleaned_data["owner"], contact=form.cleaned_data["contact"])

    def delete(self, request, obj):
        services.contact_delete(owner=obj.owner, contact=obj)

    def rows_to_delete(self, queryset):
        return queryset.select_related("owner")
