"""The staff face for users and their address books.

Writes go through `accounts.services`; the staff and superuser flags, which no service
sets, are plain saves (audited like every save).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth import password_validation
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UsernameField
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import services
from accounts.models import Contact, Role, Session, User, unique_username_from_email
from accounts.rules import is_site_admin
from core import rules
from core.admin import ServiceAdminMixin, ServiceInline, Writes, adopt


class UniqueUsernameMixin:
    """Name the field for a username taken in another case (the database constraint cannot)."""

    def clean_username(self):
        username = self.cleaned_data.get("username")
        if username:
            taken = User.objects.filter(username__iexact=username).exclude(pk=self.instance.pk)
            if taken.exists():
                raise ValidationError(_("A user with this username already exists."), code="unique")
        return username


class UserAddForm(UniqueUsernameMixin, BaseUserCreationForm):
    """Email is the login; the username is derived from it when left blank."""

    password1 = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password confirmation"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Enter the same password as before, for verification."),
    )

    class Meta:
        model = User
        fields = ("email", "username", "first_name", "last_name", "strategy")
        field_classes = {"username": UsernameField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autofocus"] = True
        self.fields["username"].required = False
        self.fields["username"].help_text = _(
            "Optional. Left blank, it is made from the email address (the part before @)."
        )
        self.fields["password1"].help_text = format_html(
            "{} {}", _("Required for local sign-in, not allowed for LDAP users."),
            mark_safe(password_validation.password_validators_help_text_html()),
        )

    def clean(self):
        strategy = self.cleaned_data.get("strategy")
        has_password = self.cleaned_data.get("password1") or self.cleaned_data.get("password2")
        if strategy == User.Strategy.LDAP and has_password:
            self.add_error("password1", _("LDAP users have no local password; leave both fields empty."))
        elif strategy == User.Strategy.LOCAL:
            for name in ("password1", "password2"):
                if not self.cleaned_data.get(name) and name not in self.errors:
                    self.add_error(name, _("A local user needs a password."))
        return super().clean()

    def _post_clean(self):
        forms.ModelForm._post_clean(self)
        # Judge the password's similarity against the username the service will derive.
        if not self.instance.username and self.instance.email:
            self.instance.username = unique_username_from_email(self.instance.email)
        self.validate_password_for_user(self.instance)

    def validate_password_for_user(self, user, **kwargs):
        if self.cleaned_data.get("strategy") != User.Strategy.LDAP:
            super().validate_password_for_user(user, **kwargs)


class UserChangeForm(UniqueUsernameMixin, DjangoUserChangeForm):
    """The admin's user form; it also carries a password for switching an LDAP user to local."""

    local_password1 = forms.CharField(
        label=_("New local password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Needed only when switching this user to local sign-in."),
    )
    local_password2 = forms.CharField(
        label=_("New local password (again)"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = User
        fields = ("email", "username", "first_name", "last_name", "strategy", "is_active", "is_staff",
                  "is_superuser", "roles")
        field_classes = {"username": UsernameField}

    def clean(self):
        cleaned = super().clean()
        password1 = cleaned.get("local_password1")
        password2 = cleaned.get("local_password2")
        switching_to_local = (
            "strategy" in self.changed_data
            and cleaned.get("strategy") == User.Strategy.LOCAL
        )
        if switching_to_local:
            if not password1:
                self.add_error("local_password1", _("Switching to local sign-in needs a password."))
            elif password1 != password2:
                self.add_error("local_password2", _("The two password fields didn’t match."))
            else:
                try:
                    password_validation.validate_password(password1, self.instance)
                except ValidationError as exc:
                    self.add_error("local_password1", exc)
        elif password1 or password2:
            self.add_error("local_password1", _(
                "Set a password with the password form; this field is only for switching to local sign-in."
            ))
        return cleaned


class ContactInline(ServiceInline, admin.TabularInline):
    """A user's address book. Entries are added and removed through the contact services."""

    model = Contact
    fk_name = "owner"
    fields = ("contact", "created")
    readonly_fields = ("created",)
    autocomplete_fields = ("contact",)
    extra = 0
    verbose_name = _("contact")
    verbose_name_plural = _("contacts (address book)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("contact")

    def create(self, request, obj):
        return services.contact_create(owner=obj.owner, contact=obj.contact)

    def update(self, request, obj, fields):
        # Re-pointing an entry is removing it and adding another.
        services.contact_delete(owner=obj.owner, contact=Contact.objects.get(pk=obj.pk))
        adopt(obj, services.contact_create(owner=obj.owner, contact=obj.contact))

    def delete(self, request, obj):
        services.contact_delete(owner=obj.owner, contact=obj)


# Fields only site admins change (the service refuses them from anybody else).
SITE_ADMIN_USER_FIELDS = ("strategy", "is_active", "is_staff", "is_superuser", "roles")
# Fields `services.user_update` knows how to change.
SERVICE_USER_FIELDS = ("email", "username", "first_name", "last_name", "strategy", "is_active")
# Flags no service sets; saved directly (and audited like every save).
FLAG_USER_FIELDS = ("is_staff", "is_superuser")


@admin.register(User)
class UserAdmin(ServiceAdminMixin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserAddForm
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Sign-in"), {"fields": ("strategy", "is_active")}),
        (_("Permissions"), {"fields": ("is_staff", "is_superuser", "roles")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {
            "classes": ("wide",),
            "fields": ("email", "username", "first_name", "last_name", "strategy", "password1", "password2"),
        }),
    )
    list_display = ("email", "username", "first_name", "last_name", "strategy", "is_active", "is_superuser",
                    "date_joined")
    list_filter = ("is_active", "is_superuser", "is_staff", "strategy", "roles")
    search_fields = ("email", "username", "first_name", "last_name")
    ordering = ("email",)
    filter_horizontal = ("roles",)
    readonly_fields = ("date_joined", "last_login")
    inlines = (ContactInline,)
    actions = ("deactivate_users",)
    writes = Writes(services, "user")
    # Nobody but a site admin changes or deletes a site admin (the role rules say so).
    object_permissions = {"change": "accounts.change_user", "delete": "accounts.delete_user"}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.strategy == User.Strategy.LDAP and is_site_admin(request.user):
            fieldsets = [
                (name, {**opts, "fields": (*opts["fields"], "local_password1", "local_password2")})
                if "strategy" in opts["fields"] else (name, opts)
                for name, opts in fieldsets
            ]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        if not is_site_admin(request.user):
            readonly += [f for f in SITE_ADMIN_USER_FIELDS if f not in readonly]
        elif obj.pk == request.user.pk:
            # No locking oneself out; and one's own email changes on the profile page,
            # where the current password is asked for.
            readonly += ["email", "is_active", "is_staff", "is_superuser"]
        return readonly

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "roles":
            kwargs["queryset"] = Role.objects.order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def create(self, request, form):
        data = form.cleaned_data
        return services.user_create(
            actor=request.user,
            email=data["email"],
            password=data.get("password1") or None,
            username=data.get("username") or None,
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            strategy=data["strategy"],
        )

    def update(self, request, obj, form):
        data = form.cleaned_data
        changes = {name: data[name] for name in SERVICE_USER_FIELDS if name in form.changed_data}
        if "roles" in form.changed_data:
            changes["roles"] = list(data["roles"])
        if changes.get("strategy") == User.Strategy.LOCAL:
            changes["password"] = data["local_password1"]
        if changes:
            services.user_update(actor=request.user, user=obj, data=changes)
        flags = [name for name in FLAG_USER_FIELDS if name in form.changed_data]
        if flags:
            user = User.objects.get(pk=obj.pk)
            for name in flags:
                setattr(user, name, data[name])
            user.save(update_fields=flags)
        obj.refresh_from_db()

    def user_change_password(self, request, id, form_url=""):
        """Django's password form, for site admins only: it sets a password without the current
        one, which the API allows nobody else either (a staff member holding `change_user` would
        otherwise take over any account). Refused for LDAP users; a new password ends the user's
        bearer sessions."""
        if not request.user.has_perm(rules.SITE_ADMINS_ONLY):
            raise PermissionDenied(_("Only site admins set a password here."))
        user = self.get_object(request, unquote(id))
        if user is not None and user.strategy == User.Strategy.LDAP and self.has_change_permission(request, user):
            self.message_user(
                request,
                _("%(user)s signs in through LDAP and has no local password. Switch them to local sign-in "
                  "on this page, which asks for the new password.") % {"user": user},
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user.pk]))
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            changed = request.method == "POST" and user is not None and (
                User.objects.filter(pk=user.pk).values_list("password", flat=True).get() != user.password)
            if changed:
                for session in Session.objects.filter(user_id=user.pk):
                    services.session_delete(session=session)
        return response

    def has_deactivate_permission(self, request):
        return is_site_admin(request.user)

    @admin.action(description=_("Deactivate selected users"), permissions=["deactivate"])
    def deactivate_users(self, request, queryset):
        # Like Django's own "delete selected": a page that asks first, whose form confirms.
        if request.POST.get("post") != "yes":
            return TemplateResponse(request, "admin/accounts/user/deactivate_confirmation.html", {
                **self.admin_site.each_context(request),
                "title": _("Deactivate users?"),
                "opts": self.model._meta,
                "users": list(queryset.order_by("email")),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            })
        deactivated = already = 0
        for user in queryset:
            if user.pk == request.user.pk:
                self.message_user(request, _("You cannot deactivate yourself; skipped %(user)s.") % {"user": user},
                                  messages.WARNING)
                continue
            if not user.is_active:
                already += 1
            else:
                deactivated += 1
            # Also for already inactive users: the service ends any bearer session left.
            services.user_update(actor=request.user, user=user, data={"is_active": False})
        if deactivated:
            self.message_user(request, ngettext(
                "Deactivated %(count)d user and ended their sessions.",
                "Deactivated %(count)d users and ended their sessions.",
                deactivated,
            ) % {"count": deactivated}, messages.SUCCESS)
        if already:
            self.message_user(request, ngettext(
                "%(count)d user was already inactive.",
                "%(count)d users were already inactive.",
                already,
            ) % {"count": already}, messages.INFO)
