"""The staff face for users, roles, contacts, bearer sessions, the audit log, accounts,
account roles and activation codes.

Writes go through `accounts.services` wherever a service exists; the rest (staff and
superuser flags, a password set with Django's admin password form) are plain saves.
Every write is audited with the signed-in admin as actor by django-auditlog's
middleware, since admin requests are session-authenticated.
"""

from functools import cache

from auditlog.admin import LogEntryAdmin
from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.auth import password_validation
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UsernameField
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, router, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from guardian.admin import GuardedModelAdminMixin

from accounts import services
from accounts.models import (
    Account,
    AccountRole,
    ActivationCode,
    AuditLogEntry,
    Contact,
    Role,
    Session,
    User,
    unique_username_from_email,
)
from accounts.rules import is_site_admin
from core.errors import ServiceError
from accounts import services as account_services
from memberships import services as membership_services
from accounts.models import AccountMembership
from memberships.models import Membership, Utility
from accounts.rules import is_account_admin


def _error_text(exc) -> str:
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
        # Actions and list edits run here: all of them or none, like a change form's save.
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
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
            adopt(obj, user)
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
            adopt(contact, services.contact_create(owner=form.instance, contact=contact.contact))

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
            adopt(obj, role)
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
            adopt(obj, services.contact_create(owner=obj.owner, contact=obj.contact))

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


# --------------------------------------------------------------------------- accounts


@cache
def account_history_template():
    """The audit log's history page, with each entry naming the object it changed.

    An account's history holds entries about many objects (its memberships, activation
    code, ...), which auditlog's own entry template does not name.
    """
    return engines["django"].from_string(ACCOUNT_HISTORY_TEMPLATE)


ACCOUNT_HISTORY_TEMPLATE = """{% extends "auditlog/object_history.html" %}
{% load i18n auditlog_tags %}
{% block content %}
<div id="content-main">
  <p>{% translate "Every change to this account and to everything in it, newest first." %}
     <a href="{{ audit_log_url }}">{% translate "Search and filter these entries in the audit log" %}</a></p>
  <div id="auditlog-history" class="module">
    {% if log_entries %}
      <div class="auditlog-entries">
        {% for entry in log_entries %}
          <div class="auditlog-entry">
            <div class="entry-header">
              <div class="entry-meta">
                <span class="entry-timestamp">{{ entry.timestamp|date:"DATETIME_FORMAT" }}</span>
                <span class="entry-user">
                  {% if entry.actor %}{{ entry.actor }}{% elif entry.actor_email %}{{ entry.actor_email }}
                  {% else %}{% translate "system" %}{% endif %}
                </span>
                <span class="entry-action">{{ entry.get_action_display }}</span>
                <span class="entry-object">{{ entry.content_type.name|capfirst }}: {{ entry.object_repr }}</span>
              </div>
            </div>
            <div class="entry-content">
              {% if entry.action == entry.Action.DELETE or entry.action == entry.Action.ACCESS %}
                <span class="no-changes">{% translate "No field changes" %}</span>
              {% else %}
                {{ entry|render_logentry_changes_html|safe }}
              {% endif %}
            </div>
          </div>
        {% endfor %}
      </div>
      {% if pagination_required %}
        {% include "auditlog/pagination.html" with page_obj=log_entries page_var=page_var %}
      {% endif %}
    {% else %}
      <p>{% translate "No log entries found." %}</p>
    {% endif %}
  </div>
</div>
{% endblock %}
"""


class AccountMembershipInlineForm(forms.ModelForm):
    class Meta:
        model = AccountMembership
        fields = ("user", "role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "user" in self.fields:
            # A membership's user is fixed: show who it is (loaded with the row, so no
            # query per member) instead of an autocomplete box that cannot be changed.
            self.fields["user"].disabled = True
            self.fields["user"].widget = forms.Select(choices=[(self.instance.user_id, str(self.instance.user))])


class AccountMembershipInline(admin.TabularInline):
    """An account's members. Saves go through the membership services (AccountAdmin.save_formset)."""

    model = AccountMembership
    form = AccountMembershipInlineForm
    fields = ("user", "role", "created")
    readonly_fields = ("created",)
    autocomplete_fields = ("user",)
    extra = 0
    show_change_link = True
    verbose_name = _("member")
    verbose_name_plural = _("members")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "account")


def subscriber_count():
    """A utility's subscribers, counted in the same query as the rows (joins elsewhere in the
    query, such as a search across members, cannot inflate it)."""
    rows = Membership.objects.filter(utility_id=OuterRef("pk"), is_subscriber=True).order_by().values("utility_id")
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0)


def seats_taken(utility) -> str:
    """Subscribers over seats, e.g. "3 / 10" or "3 / unlimited"."""
    seats = _("unlimited") if utility.subscriber_seats is None else utility.subscriber_seats
    return f"{utility.subscriber_count} / {seats}"


class UtilityInlineForm(forms.ModelForm):
    # Set per request by UtilityInline.get_formset: only the account's admins change a billing day.
    billing_day_locked = False

    class Meta:
        model = Utility
        fields = ("name", "billing_day", "subscriber_seats")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and self.billing_day_locked:
            self.fields["billing_day"].disabled = True

    def clean_subscriber_seats(self):
        seats = self.cleaned_data.get("subscriber_seats")
        taken = getattr(self.instance, "subscriber_count", 0) if self.instance.pk is not None else 0
        if seats is not None and seats < taken:
            raise ValidationError(
                _("%(taken)d members subscribe already; free seats before lowering the limit to %(seats)d.")
                % {"taken": taken, "seats": seats}, code="seat_limit_reached")
        return seats


class UtilityInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        # The database compares names case-insensitively; two new rows would only clash at save time.
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            name = form.cleaned_data.get("name")
            if not name:
                continue
            if name.casefold() in seen:
                form.add_error("name", _("Another row has this name already."))
            seen.add(name.casefold())


class UtilityInline(admin.TabularInline):
    """An account's utilities. Saves go through the utility services (AccountAdmin.save_formset);
    a utility's memberships are on its own page, one click away."""

    model = Utility
    form = UtilityInlineForm
    formset = UtilityInlineFormSet
    fields = ("name", "billing_day", "subscriber_seats", "seats_taken")
    readonly_fields = ("seats_taken",)
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(subscriber_count=subscriber_count())

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type(formset.form.__name__, (formset.form,), {
            "billing_day_locked": obj is not None and not is_account_admin(request.user, obj),
        })
        return formset

    @admin.display(description=_("subscribers / seats"))
    def seats_taken(self, obj):
        return seats_taken(obj) if obj.pk is not None else "-"


UTILITY_INLINE_FIELDS = ("name", "billing_day", "subscriber_seats")


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


class AccountForm(UniqueNameForm):
    name_taken_message = _("An account with this name already exists.")


@admin.register(Account)
class AccountAdmin(ServiceErrorsAsMessages, AuditlogHistoryAdminMixin, GuardedModelAdminMixin, admin.ModelAdmin):
    """Accounts, their members, their history (the account and everything in it) and
    guardian's object permissions. Every write goes through the services."""

    form = AccountForm
    fieldsets = (
        (None, {"fields": ("name", "consultancy_account", "account_roles", "is_default", "created", "updated")}),
        (_("Branding"), {"fields": ("primary_color", "secondary_color", "logo_url")}),
        (_("Schedules"), {"fields": ("health_time_period", "exec_interval", "base_line_exec_interval",
                                     "cd_model_frequency", "cd_execution_frequency", "data_retention")}),
        (_("Products and custom attributes"), {"fields": ("default_product_privacy", "custom_attributes")}),
    )
    readonly_fields = ("is_default", "created", "updated")
    list_display = ("name", "consultancy_account", "member_count", "utility_count", "created", "is_default")
    list_select_related = ("consultancy_account",)
    list_filter = ("account_roles", ("consultancy_account", admin.RelatedOnlyFieldListFilter), "is_default")
    search_fields = ("name",)
    ordering = ("name",)
    autocomplete_fields = ("consultancy_account",)
    filter_horizontal = ("account_roles",)
    inlines = (AccountMembershipInline, UtilityInline)
    actions = ("refresh_activation_codes",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    account_history_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    @admin.display(description=_("utilities"), ordering="utility_count")
    def utility_count(self, obj):
        return obj.utility_count

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not is_site_admin(request.user):
            # The services refuse these from anybody but a site admin (on add, too).
            readonly += [f for f in services.SITE_ADMIN_ACCOUNT_FIELDS if f not in readonly]
        return readonly

    def get_inlines(self, request, obj):
        # The creator becomes the new account's admin; members are added once it exists.
        if obj is None:
            return ()
        if obj.is_default:
            # Its utilities are everyone's personal ones (one per user): listed, filtered and
            # searched in the utility admin rather than all on this page.
            return tuple(inline for inline in self.inlines if inline is not UtilityInline)
        return self.inlines

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_default:
            return False  # It holds everyone's personal utilities.
        return super().has_delete_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "account_roles":
            kwargs["queryset"] = AccountRole.objects.order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # ------------------------------------------------------------------- writes

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            values = {name: data[name] for name in services.ACCOUNT_FIELDS if name in data}
            if "consultancy_account" in data:
                values["consultancy_account"] = data["consultancy_account"]
            if "account_roles" in data:
                values["account_roles"] = list(data["account_roles"])
            adopt(obj, services.account_create(actor=request.user, data=values))
            return
        editable = (*services.ACCOUNT_FIELDS, *services.SITE_ADMIN_ACCOUNT_FIELDS)
        changes = {name: data[name] for name in form.changed_data if name in editable}
        if "account_roles" in changes:
            changes["account_roles"] = list(changes["account_roles"])
        if changes:
            services.account_update(actor=request.user, account=obj, data=changes)
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # No form.save_m2m(): the services have set the account roles already.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        if formset.model is Utility:
            return self.save_utility_formset(request, form, formset)
        if formset.model is not AccountMembership:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        account = form.instance
        for membership in formset.new_objects:
            created = account_services.account_membership_create(
                actor=request.user, user=membership.user, account=account, role=membership.role
            )
            adopt(membership, created)
        # Promotions before demotions, so one save can hand the admin role to someone else.
        changed = [membership for membership, fields in formset.changed_objects if "role" in fields]
        changed.sort(key=lambda membership: -AccountMembership.RANK[membership.role])
        for membership in changed:
            account_services.account_membership_update(actor=request.user, membership=membership,
                                                          role=membership.role)
        for membership in formset.deleted_objects:
            account_services.account_membership_delete(actor=request.user, membership=membership)

    def save_utility_formset(self, request, form, formset):
        formset.save(commit=False)
        # Removals, changes, additions: the order a person would follow by hand.
        for utility in formset.deleted_objects:
            membership_services.utility_delete(actor=request.user, utility=utility)
        for utility, fields in formset.changed_objects:
            changes = {name: getattr(utility, name) for name in fields if name in UTILITY_INLINE_FIELDS}
            if changes:
                membership_services.utility_update(actor=request.user, utility=utility, data=changes)
        for utility in formset.new_objects:
            created = membership_services.utility_create(
                actor=request.user, account=form.instance, name=utility.name, billing_day=utility.billing_day,
                subscriber_seats=utility.subscriber_seats,
            )
            adopt(utility, created)

    def response_add(self, request, obj, post_url_continue=None):
        # Go on to the new account's page, where its members are added (as UserAdmin does).
        if "_addanother" not in request.POST and IS_POPUP_VAR not in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = 1
        return super().response_add(request, obj, post_url_continue)

    def delete_model(self, request, obj):
        services.account_delete(actor=request.user, account=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for account in queryset:
            services.account_delete(actor=request.user, account=account)

    # ------------------------------------------------------------------- actions

    def has_refresh_activation_code_permission(self, request):
        return request.user.has_perm("accounts.change_activationcode")

    @admin.action(description=_("Refresh activation codes"), permissions=["refresh_activation_code"])
    def refresh_activation_codes(self, request, queryset):
        count = 0
        for account in queryset:
            services.activation_code_refresh(actor=request.user, account=account)
            count += 1
        self.message_user(request, ngettext(
            "Issued a new activation code for %(count)d account; its old code stopped working.",
            "Issued new activation codes for %(count)d accounts; their old codes stopped working.",
            count,
        ) % {"count": count}, messages.SUCCESS)

    # ------------------------------------------------------------------- history

    def history_view(self, request, object_id, extra_context=None):
        """Every change to the account and to everything in it, also of objects since deleted."""
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, account):
            raise PermissionDenied
        entries = (
            AuditLogEntry.objects.filter(account_id=account.pk)
            .select_related("actor", "content_type")
            .order_by("-timestamp", "-id")
        )
        paginator = self.get_paginator(request, entries, self.account_history_per_page)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        context = {
            **self.admin_site.each_context(request),
            "title": _("History of %(account)s and everything in it") % {"account": account},
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "page_range": paginator.get_elided_page_range(page.number),
            "page_var": PAGE_VAR,
            "pagination_required": paginator.count > self.account_history_per_page,
            "object": account,
            "opts": self.opts,
            "log_entries": page,
            "audit_log_url": "%s?%s" % (reverse("admin:accounts_auditlogentry_changelist"),
                                        urlencode({"account_id": account.pk})),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, account_history_template(), context)

    # ------------------------------------------------------------------- guardian

    def _object_permissions_for_site_admins(self, request):
        # Handing out rights on an account is like handing out roles: site admins only.
        if not is_site_admin(request.user):
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
        if not is_site_admin(request.user):
            # Guardian's template only adds the "Object permissions" link, which is for site admins.
            response.template_name = [
                f"admin/{self.opts.app_label}/{self.opts.model_name}/change_form.html",
                f"admin/{self.opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        return response


# --------------------------------------------------------------------------- account roles


class AccountRoleForm(UniqueNameForm):
    name_taken_message = _("An account role with this name already exists.")


@admin.register(AccountRole)
class AccountRoleAdmin(ServiceErrorsAsMessages, AuditHistory, admin.ModelAdmin):
    form = AccountRoleForm
    fields = ("name", "description")
    list_display = ("name", "description", "account_count")
    search_fields = ("name",)
    ordering = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(account_count=Count("accounts"))

    @admin.display(description=_("accounts"), ordering="account_count")
    def account_count(self, obj):
        return obj.account_count

    # Account roles are written by site admins only (SPEC), whatever model permissions staff hold.
    def has_add_permission(self, request):
        return is_site_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_site_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_site_admin(request.user)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            adopt(obj, services.account_role_create(actor=request.user, name=data["name"],
                                                    description=data["description"]))
            return
        changes = {name: data[name] for name in ("name", "description") if name in form.changed_data}
        if changes:
            services.account_role_update(actor=request.user, role=obj, data=changes)

    def delete_model(self, request, obj):
        services.account_role_delete(actor=request.user, role=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for role in queryset:
            services.account_role_delete(actor=request.user, role=role)


# --------------------------------------------------------------------------- activation codes


class ActivationCodeStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("valid", _("Valid")), ("expired", _("Expired")))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "valid":
            return queryset.filter(expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(ActivationCode)
class ActivationCodeAdmin(AuditHistory, admin.ModelAdmin):
    """When each account's code was issued and until when it works. The code itself is a
    secret for the account's admins (the API and the portal), so it is never shown here;
    deleting one retires it, and the account's admins get a fresh one when they next ask."""

    fields = ("account", "issued_at", "expires_at", "is_valid")
    readonly_fields = fields
    list_display = ("account", "issued_at", "expires_at", "is_valid")
    list_filter = (ActivationCodeStatusFilter,)
    list_select_related = ("account",)
    # By account only: searching by code would tell whoever tries whether a code exists.
    search_fields = ("account__name",)
    date_hierarchy = "issued_at"
    ordering = ("-issued_at",)
    actions = ("refresh_activation_codes",)

    @admin.display(description=_("valid"), boolean=True)
    def is_valid(self, obj):
        return obj.is_valid

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_refresh_activation_code_permission(self, request):
        return request.user.has_perm("accounts.change_activationcode")

    @admin.action(description=_("Refresh selected activation codes"), permissions=["refresh_activation_code"])
    def refresh_activation_codes(self, request, queryset):
        accounts = [code.account for code in queryset]
        for account in accounts:
            services.activation_code_refresh(actor=request.user, account=account)
        self.message_user(request, ngettext(
            "Issued %(count)d new activation code; the old one stopped working.",
            "Issued %(count)d new activation codes; the old ones stopped working.",
            len(accounts),
        ) % {"count": len(accounts)}, messages.SUCCESS)
