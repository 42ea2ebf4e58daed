"""The audit history as people read it: who by name, what by label, related objects by name,
times to the second; filtered by action, object type, who and when (`history_page`)."""

from datetime import timedelta

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.db.models import Q

from accounts.filtersets import AUDIT_ACTIONS, AuditLogEntryFilterSet
from accounts.models import Account, User
from billing.models import Charge, Merchant, Product, ProductType
from core.audit import mask_change
from memberships.models import Membership, Utility

HISTORY_PAGE_SIZE = 50
AUDIT_ACTION_NAMES = {number: name for name, number in AUDIT_ACTIONS.items()}
#: what a foreign key in `changes` names, by field name: its model and how to name a row
NAMED_RELATIONS = {
    "user": (User, lambda user: user.get_full_name() or user.email),
    "contact": (User, lambda user: user.get_full_name() or user.email),
    "owner": (User, lambda user: user.get_full_name() or user.email),
    "invited_by": (User, lambda user: user.get_full_name() or user.email),
    "personal_owner": (User, lambda user: user.get_full_name() or user.email),
    "account": (Account, str),
    "consultancy_account": (Account, str),
    "utility": (Utility, str),
    "product": (Product, str),
    "product_type": (ProductType, lambda product_type: product_type.name),
    "merchant": (Merchant, str),
}
#: labels people read for fields whose name says little on its own
FIELD_LABELS = {
    "is_subscriber": "Subscriber",
    "is_subscriber_datetime": "Subscription changed",
    "subscriber_seats": "Subscriber seats",
    "billing_day": "Billing day",
    "is_active": "Active",
    "is_superuser": "Site admin",
    "key_hash": "Token",
    "code": "Code",
    "primary_color": "Primary colour",
    "secondary_color": "Secondary colour",
    "logo_url": "Logo URL",
    "billing_period_start": "Billing period start",
    "billing_period_end": "Billing period end",
}


def field_label(model, field: str) -> str:
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    try:
        verbose = model._meta.get_field(field).verbose_name if model is not None else None
    except Exception:  # a field since removed, or an m2m name
        verbose = None
    text = str(verbose or field.replace("_", " "))
    return text[:1].upper() + text[1:]


class HistoryFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, choices=[("", "Any action")] + [(a, a) for a in AUDIT_ACTIONS])
    object_type = forms.ChoiceField(required=False, label="Object type")
    actor = forms.TypedChoiceField(required=False, label="Who", coerce=int, empty_value=None)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="Until (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, object_types=(), actors=(), **kwargs):
        kwargs.setdefault("auto_id", "history-%s")
        super().__init__(*args, **kwargs)
        self.fields["object_type"].choices = [("", "Any type")] + [(name, name) for name in object_types]
        self.fields["actor"].choices = [("", "Anyone")] + [(user.pk, f"{user.get_full_name() or user.email}")
                                                            for user in actors]


def _type_name(content_type_id) -> str:
    """The changed object's resource type (`Membership`), as the API names it."""
    content_type = ContentType.objects.get_for_id(content_type_id)
    model = content_type.model_class()
    return model.__name__ if model is not None else content_type.model.title()


def _text(value) -> str:
    if value in (None, ""):
        return "—"
    if value in ("True", True):
        return "yes"
    if value in ("False", False):
        return "no"
    return str(value)


def _names_of(entries) -> dict:
    """{(model, id): name} of every related object the page's changes mention: one query a model."""
    wanted = {}
    for entry in entries:
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        for field, value in changes.items():
            if field in NAMED_RELATIONS and isinstance(value, list):
                for item in value:
                    if item not in (None, "", "None") and str(item).isdigit():
                        wanted.setdefault(field, set()).add(int(item))
    names = {}
    by_model = {}
    for field, ids in wanted.items():
        model, namer = NAMED_RELATIONS[field]
        by_model.setdefault((model, namer), set()).update(ids)
    for (model, namer), ids in by_model.items():
        for row in model._base_manager.filter(pk__in=ids):
            names[(model, row.pk)] = namer(row)
    return names


def change_rows(entry, names) -> list[tuple[str, str]]:
    """(label, "old → new") pairs; secrets masked whatever was stored; ids named."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    model = entry.content_type.model_class()
    rows = []
    for field, value in changes.items():
        value = mask_change(field, value, model)
        if isinstance(value, list) and len(value) == 2:
            if field in NAMED_RELATIONS:
                related = NAMED_RELATIONS[field][0]
                value = [names.get((related, int(item)), f"#{item}") if str(item).isdigit() else item
                         for item in value]
            text = f"{_text(value[0])} → {_text(value[1])}"
        elif isinstance(value, dict) and value.get("type") == "m2m":
            text = f"{value.get('operation', 'changed')}: {', '.join(map(str, value.get('objects', [])))}"
        else:
            text = _text(value)
        rows.append((field_label(model, field), text))
    return rows


def utility_entries(entries, utility):
    """The entries about one utility: itself, and its memberships, products and charges
    (also those since deleted: their creation and deletion record the utility)."""
    types = ContentType.objects.get_for_models(Membership, Product, Charge)
    child_types = [types[Membership].pk, types[Product].pk, types[Charge].pk]
    pk = str(utility.pk)
    return entries.filter(
        Q(content_type=ContentType.objects.get_for_model(Utility), object_pk=pk)
        | Q(content_type_id=types[Membership].pk, object_pk__in=_ids(Membership, utility))
        | Q(content_type_id=types[Product].pk, object_pk__in=_ids(Product, utility))
        | Q(content_type_id__in=child_types, changes__utility__0=pk)
        | Q(content_type_id__in=child_types, changes__utility__1=pk)
    )


def _ids(model, utility) -> list[str]:
    return [str(pk) for pk in model._base_manager.filter(utility=utility).values_list("pk", flat=True)]


def history_page(request, entries) -> dict:
    """The filter form, and the page of `entries` it selects, ready for the template."""
    type_ids = entries.order_by().values_list("content_type_id", flat=True).distinct()
    object_types = sorted({_type_name(type_id) for type_id in type_ids})
    actor_ids = entries.order_by().exclude(actor_id=None).values_list("actor_id", flat=True).distinct()
    actors = User.objects.filter(pk__in=actor_ids).order_by("first_name", "last_name", "email")
    form = HistoryFilterForm(request.GET or None, object_types=object_types, actors=actors)
    filters = form.cleaned_data if form.is_valid() else {}
    data = {}
    for name in ("action", "object_type"):
        if filters.get(name):
            data[name] = filters[name]
    if filters.get("actor"):
        data["actor"] = str(filters["actor"])
    if filters.get("since"):
        data["since"] = f"{filters['since'].isoformat()}T00:00:00Z"
    if filters.get("until"):
        data["until"] = f"{(filters['until'] + timedelta(days=1)).isoformat()}T00:00:00Z"
    filtered = AuditLogEntryFilterSet(
        data=data, queryset=entries.select_related("actor", "content_type").order_by("-timestamp", "-id")).qs
    page = Paginator(filtered, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return {"filter_form": form, "page_obj": page, "entries": readable(list(page.object_list))}


def readable(entries: list) -> list:
    """Give each entry `action_name`, `object_type`, `change_rows` and `actor_name`."""
    names = _names_of(entries)
    for entry in entries:
        entry.action_name = AUDIT_ACTION_NAMES.get(entry.action, str(entry.action))
        entry.object_type = _type_name(entry.content_type_id)
        entry.change_rows = change_rows(entry, names)
        entry.actor_name = (entry.actor.get_full_name() or entry.actor.email) if entry.actor else None
    return entries
