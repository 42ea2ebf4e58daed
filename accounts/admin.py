"""The staff face for users, roles, contacts, bearer sessions and the audit log.

Writes go through `accounts.services` wherever a service exists; the rest (staff and
superuser flags, a password set with Django's admin password form) are plain saves.
Every write is audited with the signed-in admin as actor by django-auditlog's
middleware, since admin requests are session-authenticated.
"""

from auditlog.admin import LogEntryAdmin
from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import password_validation
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UsernameField
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import services
from accounts.models import AuditLogEntry, Contact, Role, Session, User, unique_username_from_email
from accounts.permissions import is_site_admin
from config.errors import ServiceError


def _error_text(exc) -> str:
    if isinstance(exc, ServiceError):
        return exc.detail
    return " ".join(exc.messages)


def _adopt(target, source) -> None:
    """Make the admin's unsaved form instance the row a service created.

    The admin keeps using the instance `save_form` built (for its change message,
    redirect and inlines), so it must carry the created row's primary key and values.
    """
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


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
            self.message_user(request, _error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (ServiceError, ValidationError) as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except (ServiceError, ValidationError) as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class AuditHistory(AuditlogHistoryAdminMixin):
    """The change form's "History" button shows the object's audit log.

    The audit log records every write, from the API, the portal and the admin alike,
    so it is the whole history where Django's admin log knows only admin edits.
    """

    def history_view(self, request, object_id, extra_context=None):
        return self.auditlog_history_view(request, object_id, extra_context)


# --------------------------------------------------------------------------- users


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


class ContactInline(admin.TabularInline):
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


# Fields only site admins change (the service refuses them from anybody else).
SITE_ADMIN_USER_FIELDS = ("strategy", "is_active", "is_staff", "is_superuser", "roles")
# Fields `services.user_update` knows how to change.
SERVICE_USER_FIELDS = ("email", "username", "first_name", "last_name", "strategy", "is_active")
# Flags no service sets; saved directly (and audited like every save).
FLAG_USER_FIELDS = ("is_staff", "is_superuser")


@admin.register(User)
class UserAdmin(ServiceErrorsAsMessages, AuditHistory, DjangoUserAdmin):
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

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not is_site_admin(request.user):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not is_site_admin(request.user):
            return False
        return super().has_delete_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "roles":
            kwargs["queryset"] = Role.objects.order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            user = services.user_create(
                actor=request.user,
                email=data["email"],
                password=data.get("password1") or None,
                username=data.get("username") or None,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                strategy=data["strategy"],
            )
            _adopt(obj, user)
            return
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

    def save_formset(self, request, form, formset, change):
        if formset.model is not Contact:
            return super().save_formset(request, form, formset, change)
        instances = formset.save(commit=False)
        for contact in formset.deleted_objects:
            services.contact_delete(owner=contact.owner, contact=contact)
        for contact in instances:
            if contact.pk is not None:
                # Re-pointing an entry is removing it and adding another.
                services.contact_delete(owner=form.instance, contact=Contact.objects.get(pk=contact.pk))
            _adopt(contact, services.contact_create(owner=form.instance, contact=contact.contact))

    def delete_model(self, request, obj):
        services.user_delete(actor=request.user, user=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for user in queryset:
            services.user_delete(actor=request.user, user=user)

    def user_change_password(self, request, id, form_url=""):
        """Django's password form, refused for LDAP users; a new password ends the user's bearer sessions."""
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
            if request.method == "POST" and user is not None:
                if User.objects.filter(pk=user.pk).values_list("password", flat=True).get() != user.password:
                    for session in Session.objects.filter(user_id=user.pk):
                        services.session_delete(session=session)
        return response

    def has_deactivate_permission(self, request):
        return is_site_admin(request.user)

    @admin.action(description=_("Deactivate selected users"), permissions=["deactivate"])
    def deactivate_users(self, request, queryset):
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


# --------------------------------------------------------------------------- roles


@admin.register(Role)
class RoleAdmin(ServiceErrorsAsMessages, AuditHistory, admin.ModelAdmin):
    fields = ("name", "description", "permissions")
    list_display = ("name", "description", "user_count", "updated")
    search_fields = ("name",)
    ordering = ("name",)
    filter_horizontal = ("permissions",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_count=Count("users"))

    @admin.display(description=_("users"), ordering="user_count")
    def user_count(self, obj):
        return obj.user_count

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "permissions":
            # Resolving each permission's name otherwise loads its content type one by one.
            kwargs["queryset"] = db_field.remote_field.model.objects.select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            role = services.role_create(actor=request.user, name=data["name"], description=data["description"],
                                        permissions=list(data["permissions"]))
            _adopt(obj, role)
            return
        changes = {name: data[name] for name in ("name", "description") if name in form.changed_data}
        if "permissions" in form.changed_data:
            changes["permissions"] = list(data["permissions"])
        services.role_update(actor=request.user, role=obj, data=changes)

    def delete_model(self, request, obj):
        services.role_delete(actor=request.user, role=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for role in queryset:
            services.role_delete(actor=request.user, role=role)


# --------------------------------------------------------------------------- contacts


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
class ContactAdmin(ServiceErrorsAsMessages, AuditHistory, admin.ModelAdmin):
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

    def save_model(self, request, obj, form, change):
        if not change:
            _adopt(obj, services.contact_create(owner=obj.owner, contact=obj.contact))

    def delete_model(self, request, obj):
        services.contact_delete(owner=obj.owner, contact=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for contact in queryset.select_related("owner"):
            services.contact_delete(owner=contact.owner, contact=contact)


# --------------------------------------------------------------------------- bearer sessions


class SessionStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("live", _("Live")), ("expired", _("Expired")))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.live(now)
        if self.value() == "expired":
            return queryset.filter(Q(expires_at__lte=now) | Q(absolute_expires_at__lte=now))
        return queryset


@admin.register(Session)
class SessionAdmin(AuditHistory, admin.ModelAdmin):
    """Bearer sessions, read-only; deleting one revokes its token. The token hash is never shown."""

    fields = ("user", "created", "expires_at", "absolute_expires_at", "last_seen_at", "ip_address",
              "user_agent")
    readonly_fields = fields
    list_display = ("user", "created", "expires_at", "absolute_expires_at", "last_seen_at", "ip_address",
                    "user_agent", "is_live")
    list_filter = (SessionStatusFilter,)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    date_hierarchy = "created"
    ordering = ("-created", "-id")

    @admin.display(description=_("live"), boolean=True)
    def is_live(self, obj):
        return obj.is_live

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.session_delete(session=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for session in queryset:
            services.session_delete(session=session)


# --------------------------------------------------------------------------- audit log

# django-auditlog registers its LogEntryAdmin for whatever AUDITLOG_LOGENTRY_MODEL names,
# which here is our AuditLogEntry; replace it with a subclass that filters and searches
# the way staff look for changes.
if admin.site.is_registered(AuditLogEntry):
    admin.site.unregister(AuditLogEntry)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(LogEntryAdmin):
    """The audit log, read-only: no add, change or delete here."""

    list_filter = (
        "action",
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("object_repr", "actor__email", "actor_email")
    fieldsets = [
        (None, {"fields": ["created", "user_url", "resource_url", "account_id", "remote_addr", "cid"]}),
        (_("Changes"), {"fields": ["action", "msg"]}),
    ]
    readonly_fields = ["created", "resource_url", "action", "user_url", "msg", "account_id", "remote_addr", "cid"]
