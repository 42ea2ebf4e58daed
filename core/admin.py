"""The service-backed admin base: the staff face writes through the services (DESIGN.md,
rule 1) and asks `user.has_perm(perm, obj)` for its decisions (rule 4).

An admin names the services it writes through by their module and entity, services being
called `<entity>_<action>`:

    @admin.register(Role)
    class RoleAdmin(ServiceModelAdmin):
        writes = Writes(services, "role", fields=("name", "description", "permissions"))

The base sends the add form to `role_create`, the change form's changed fields to
`role_update`, and the delete page and the bulk delete action (all rows or none, in one
transaction) to `role_delete`; the rows of its `ServiceInline`s go to the inlines' own
services. An admin whose services take other arguments overrides `create`, `update` or
`delete`. A refusal a service raises becomes an error message, and the whole save,
inlines included, is rolled back.

Services are looked up on their module when called, not when the admin is defined, so a
test that replaces one on its module reaches the admin too.
"""

from dataclasses import dataclass
from types import ModuleType

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdminMixin

from core.errors import ServiceError


def error_text(exc) -> str:
    """What a refusal (a `ServiceError` or a `ValidationError`) says, for a message."""
    if isinstance(exc, ServiceError):
        return exc.detail
    return " ".join(exc.messages)


def adopt(target, source) -> None:
    """Make the admin's unsaved form instance the row a service created.

    The admin keeps using the instance `save_form` built (for its change message,
    redirect and inlines), so it must carry the created row's primary key and values.
    """
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


def service_value(value):
    """A form value as the services take it: many-to-many choices as a list."""
    return list(value) if isinstance(value, QuerySet) else value


@dataclass(frozen=True)
class Writes:
    """The services an admin or an inline writes through: `<entity>_create`,
    `<entity>_update` and `<entity>_delete` in `module`, called as

        create(actor=..., **{field: value for field in fields})  -> the new row
        update(actor=..., <keyword>=row, data={changed field: value})  -> the row as saved
        delete(actor=..., <keyword>=row)

    `keyword` is the name the services take the row by (the entity's, unless given).
    """

    module: ModuleType | None = None
    entity: str = ""
    fields: tuple[str, ...] = ()
    keyword: str = ""

    def service(self, action: str):
        if self.module is None:
            raise ImproperlyConfigured(f"No services are declared for {action}; declare `writes` or override it.")
        return getattr(self.module, f"{self.entity}_{action}")

    def create(self, actor, values: dict):
        return self.service("create")(actor=actor, **values)

    def update(self, actor, obj, data: dict):
        return self.service("update")(actor=actor, **{self.keyword or self.entity: obj}, data=data)

    def delete(self, actor, obj) -> None:
        self.service("delete")(actor=actor, **{self.keyword or self.entity: obj})


class ServiceErrorsAsMessages:
    """Show an error a service raises at save time as a message instead of a 500.

    Forms check what services check, so this only catches what changed in between
    (a race for a unique value, a rule that spans rows). The view's own transaction
    has been rolled back by the time the exception gets here.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ServiceError, ValidationError) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (ServiceError, ValidationError) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request, extra_context=None):
        # Actions and list edits run here: all of them or none, like a change form's save.
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().changelist_view(request, extra_context)
        except (ServiceError, ValidationError) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class AuditHistory(AuditlogHistoryAdminMixin):
    """The change form's "History" button shows the object's audit log.

    The audit log records every write, from the API, the portal and the admin alike,
    so it is the whole history where Django's admin log knows only admin edits.
    """

    def history_view(self, request, object_id, extra_context=None):
        return self.auditlog_history_view(request, object_id, extra_context)


class UniqueNameForm(forms.ModelForm):
    """Name the field for a name taken in another case (the database constraint cannot)."""

    name_taken_message = _("This name is already taken.")

    def clean_name(self):
        name = self.cleaned_data.get("name")
        if name:
            taken = type(self.instance)._default_manager.filter(name__iexact=name).exclude(pk=self.instance.pk)
            if taken.exists():
                raise ValidationError(self.name_taken_message, code="unique")
        return name


class ServiceAdminMixin(ServiceErrorsAsMessages, AuditHistory):
    """Saves, deletes and inline rows through the services in `writes`; decisions on one
    object through `request.user.has_perm(perm, obj)` (see the module's docstring)."""

    writes = Writes()
    # Permissions asked of the object on top of the model permission, by action, where the
    # role rules decide who may change or delete which rows: {"change": "app.change_model"}.
    object_permissions: dict[str, str] = {}

    # ------------------------------------------------------------------- decisions

    def has_object_permission(self, request, action: str, obj) -> bool:
        perm = self.object_permissions.get(action)
        return obj is None or perm is None or request.user.has_perm(perm, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.has_object_permission(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.has_object_permission(request, "delete", obj)

    # ------------------------------------------------------------------- writes

    def create(self, request, form):
        """Create the row the add form describes; return it."""
        data = form.cleaned_data
        values = {name: service_value(data[name]) for name in self.writes.fields if name in data}
        return self.writes.create(request.user, values)

    def update(self, request, obj, form):
        """Write the change form's changed fields."""
        data = {name: service_value(form.cleaned_data[name])
                for name in self.writes.fields if name in form.changed_data}
        if data:
            saved = self.writes.update(request.user, obj, data)
            if isinstance(saved, type(obj)):
                adopt(obj, saved)

    def delete(self, request, obj) -> None:
        self.writes.delete(request.user, obj)

    def rows_to_delete(self, queryset):
        """The rows a bulk delete removes, in the order it removes them."""
        return queryset

    def save_model(self, request, obj, form, change):
        if change:
            self.update(request, obj, form)
        else:
            adopt(obj, self.create(request, form))

    def save_related(self, request, form, formsets, change):
        # No form.save_m2m(): the services have set the many-to-many fields already.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        inline = getattr(formset, "service_inline", None)
        if inline is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__}: the {formset.model._meta.verbose_name} inline is no ServiceInline, "
                "so its rows would bypass the services."
            )
        inline.save_rows(request, formset)

    def delete_model(self, request, obj):
        self.delete(request, obj)

    def delete_queryset(self, request, queryset):
        """Delete every selected row through the service, or none: one refusal undoes the rest."""
        with transaction.atomic(using=router.db_for_write(self.model)):
            for obj in self.rows_to_delete(queryset):
                self.delete(request, obj)


class ServiceModelAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """A ModelAdmin that writes through services; `ServiceAdminMixin` goes on other bases
    (Django's UserAdmin)."""


class ServiceInline:
    """An inline whose rows are written through services (its admin's `save_formset`).

    Rows are written in `write_order`; `order_updates` orders the changed ones. Its forms
    know who is acting (`self.actor`), to ask `actor.has_perm(perm, row)` about a field.
    """

    writes = Writes()
    # Removals first, so one save can free what another row then takes.
    write_order = ("delete", "update", "create")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type(formset.form.__name__, (formset.form,), {"actor": request.user})
        formset.service_inline = self
        return formset

    def save_rows(self, request, formset) -> None:
        formset.save(commit=False)
        for step in self.write_order:
            if step == "delete":
                for obj in formset.deleted_objects:
                    self.delete(request, obj)
            elif step == "update":
                for obj, fields in self.order_updates(formset.changed_objects):
                    self.update(request, obj, fields)
            elif step == "create":
                for obj in formset.new_objects:
                    adopt(obj, self.create(request, obj))
            else:
                raise ImproperlyConfigured(f"Unknown step {step!r} in {type(self).__name__}.write_order.")

    def order_updates(self, changed: list) -> list:
        """The changed rows, as (row, changed fields) pairs, in the order they are written."""
        return changed

    def create(self, request, obj):
        """Create a new row (its foreign key already names the parent); return it."""
        return self.writes.create(request.user, {name: getattr(obj, name) for name in self.writes.fields})

    def update(self, request, obj, fields) -> None:
        data = {name: getattr(obj, name) for name in fields if name in self.writes.fields}
        if data:
            saved = self.writes.update(request.user, obj, data)
            if isinstance(saved, type(obj)):
                adopt(obj, saved)

    def delete(self, request, obj) -> None:
        self.writes.delete(request.user, obj)


class SiteAdminObjectPermissions(GuardedModelAdminMixin):
    """guardian's "Object permissions" pages on an object, for site admins only: handing out
    rights on one account or utility is like handing out roles."""

    def _object_permissions_for_site_admins(self, request):
        if not request.user.is_superuser:
            raise PermissionDenied

    def obj_perms_manage_view(self, request, object_pk):
        self._object_permissions_for_site_admins(request)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._object_permissions_for_site_admins(request)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._object_permissions_for_site_admins(request)
        return super().obj_perms_manage_group_view(request, object_pk, group_id)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        response = super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
        if not request.user.is_superuser:
            # Guardian's template only adds the "Object permissions" link, which is for site admins.
            response.template_name = [
                f"admin/{self.opts.app_label}/{self.opts.model_name}/change_form.html",
                f"admin/{self.opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        return response
