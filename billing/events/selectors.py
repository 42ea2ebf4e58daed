"""What an event stream carries: the audit entries its owner may see, in commit order from a
cursor, and how each becomes an event (`kind`, `payload` or `summary`, an SSE frame).

Visibility is the account audit log's (`accounts.view_auditlogentry`: admins and consultants
of the account and of its consultancy; site admins read everything) over every account the
owner may read that way, plus the changes to the owner's own user. Payloads carry the audit
log's wire names and values, secrets masked by the one masking rule (core.audit), exactly
as `/accounts/{id}/auditlog/` shows them.
"""

import base64
import binascii
import functools
import re
from dataclasses import dataclass
from datetime import UTC

import orjson
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from accounts.api.serializers import audit_changes_for_wire
from accounts.models import Account, AccountMembership, AuditLogEntry, User
from billing.events.models import EventStream
from core.txid import HORIZON_SQL, orders_by_commit

ACTIONS = {0: "create", 1: "update", 2: "delete", 3: "access"}
PAST = {"create": "created", "update": "updated", "delete": "deleted", "access": "accessed"}
#: the columns an event is made of (the hub and the pages read these only)
EVENT_COLUMNS = ("id", "txid", "timestamp", "action", "content_type_id", "object_id", "object_pk", "object_repr",
                 "changes", "actor_id", "account_id")
SUMMARY_MAX = 500


# --------------------------------------------------------------------------- positions (cursors)


@dataclass(frozen=True, order=True)
class Position:
    """Where an entry lies in commit order: (writing transaction, id); txid 0 on SQLite."""

    txid: int
    id: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.txid}.{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Position":
        """The position a cursor names; ValueError for anything that is not one of ours."""
        if not isinstance(text, str) or not 0 < len(text) <= 64 or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            raise ValueError("not a cursor")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("not a cursor") from None
        match = re.fullmatch(r"(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,18})", raw)
        if match is None:
            raise ValueError("not a cursor")
        txid, pk = int(match[1]), int(match[2])
        if txid >= 2**63 or pk >= 2**63:
            raise ValueError("not a cursor")
        return cls(txid, pk)

    @classmethod
    def of(cls, entry) -> "Position":
        return cls(entry.txid or 0, entry.id)


START = Position(0, 0)


# --------------------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class Scope:
    """The audit entries one user sees: everything (site admins), or the entries of the
    accounts whose audit log they read and the changes to their own user."""

    user_id: int
    everything: bool
    account_ids: frozenset

    def q(self) -> Q:
        if self.everything:
            return Q()
        own = Q(content_type_id=_user_content_type_id(), object_id=self.user_id)
        return Q(account_id__in=sorted(self.account_ids)) | own if self.account_ids else own

    @staticmethod
    def warm():
        """Load what `sees` needs from the database (the user content type), so that it asks
        nothing when called from the event loop."""
        _user_content_type_id()

    def sees(self, entry) -> bool:
        if self.everything or (entry.account_id is not None and entry.account_id in self.account_ids):
            return True
        return entry.content_type_id == _user_content_type_id() and entry.object_id == self.user_id


def _user_content_type_id() -> int:
    return ContentType.objects.get_for_model(User).pk


def scope_for(user) -> Scope:
    """One query (none for site admins)."""
    if user.is_superuser and user.is_active:
        return Scope(user.pk, True, frozenset())
    return Scope(user.pk, False, frozenset(audit_account_ids([user.pk]).get(user.pk, ())))


def audit_account_ids(user_ids) -> dict:
    """user id → ids of the accounts whose audit log that user reads (as admin or consultant
    of the account or of its consultancy), for many users in one query."""
    senior = AccountMembership.SENIOR_ROLES
    own = AccountMembership.objects.filter(user_id__in=user_ids, role__in=senior).order_by().values_list(
        "user_id", "account_id")
    clients = Account.objects.order_by().filter(consultancy_account__account_memberships__user_id__in=user_ids,
                                      consultancy_account__account_memberships__role__in=senior).values_list(
        "consultancy_account__account_memberships__user_id", "pk")
    result = {}
    for user_id, account_id in own.union(clients):
        result.setdefault(user_id, set()).add(account_id)
    return result


# --------------------------------------------------------------------------- reading in commit order


def entries_after(position: Position | None, *, scope: Scope | None = None, limit: int = 100) -> list:
    """Up to `limit` entries after `position` in commit order, only those whose transaction
    order is final (core.txid): the same call later never returns an entry before them."""
    return [Entry(row) for row in in_commit_order(position, scope=scope).values(*EVENT_COLUMNS)[:limit]]


class Entry:
    """An audit entry's columns as attributes (a page is read with `.values()`: building model
    instances cost more than the rest of the page)."""

    __slots__ = EVENT_COLUMNS

    def __init__(self, row):
        for name in EVENT_COLUMNS:
            setattr(self, name, row[name])


def in_commit_order(position: Position | None, *, scope: Scope | None = None):
    """The entries after `position` that `scope` sees, whose order is final, in commit order:
    one index range on (txid, id) from the cursor, however deep."""
    entries = AuditLogEntry.objects.all()
    if scope is not None and not scope.everything:
        entries = entries.filter(scope.q())
    if orders_by_commit():
        entries = entries.filter(RawSQL(f'"accounts_auditlogentry"."txid" < {HORIZON_SQL}', [],
                                        output_field=BooleanField()))
        if position is not None:
            entries = entries.filter(RawSQL('("accounts_auditlogentry"."txid", "accounts_auditlogentry"."id") > '
                                            "(%s::xid8, %s)", [str(position.txid), position.id],
                                            output_field=BooleanField()))
        return entries.order_by("txid", "id")
    if position is not None:
        entries = entries.filter(id__gt=position.id)
    return entries.order_by("id")


def pending_beyond_horizon(position: Position) -> bool:
    """Are there entries after `position` that a read cannot return yet, because an older
    transaction is still open (PostgreSQL)? Their writer's NOTIFY may already have come."""
    if not orders_by_commit():
        return False
    return AuditLogEntry.objects.filter(RawSQL(
        '"accounts_auditlogentry"."txid" >= ' + HORIZON_SQL + ' AND ("accounts_auditlogentry"."txid", '
        '"accounts_auditlogentry"."id") > (%s::xid8, %s)', [str(position.txid), position.id],
        output_field=BooleanField())).exists()


def last_position() -> Position:
    """The position of the newest entry whose order is final: where a stream that asks for
    nothing older starts."""
    newest = entries_before_horizon_newest()
    return Position.of(newest) if newest is not None else START


def entries_before_horizon_newest():
    entries = AuditLogEntry.objects.only("id", "txid")
    if orders_by_commit():
        entries = entries.filter(RawSQL(f'"accounts_auditlogentry"."txid" < {HORIZON_SQL}', [],
                                        output_field=BooleanField())).order_by("-txid", "-id")
    else:
        entries = entries.order_by("-id")
    return entries.first()


# --------------------------------------------------------------------------- entries as events


def object_type(entry) -> str:
    if not entry.content_type_id:
        return "Unknown"
    content_type = ContentType.objects.get_for_id(entry.content_type_id)
    return _type_name(content_type.app_label, content_type.model)


@functools.lru_cache(maxsize=256)
def _type_name(app_label, model_name) -> str:
    """A content type's resource type (cached by name: ids change when a test flushes)."""
    try:
        return apps.get_model(app_label, model_name).__name__
    except LookupError:
        return model_name.title()


def kind(entry) -> str:
    """`membership.update`: the object's type in lower case, a dot, the action."""
    return f"{object_type(entry).lower()}.{ACTIONS.get(entry.action, str(entry.action))}"


def _model(entry):
    if not entry.content_type_id:
        return None
    content_type = ContentType.objects.get_for_id(entry.content_type_id)
    try:
        return apps.get_model(content_type.app_label, content_type.model)
    except LookupError:
        return None


def payload(entry) -> dict:
    """What changed, as the audit log's API shows it (wire names, secrets masked)."""
    return {
        "objectType": object_type(entry),
        "objectId": str(entry.object_id if entry.object_id is not None else entry.object_pk),
        "objectRepr": entry.object_repr,
        "action": ACTIONS.get(entry.action, str(entry.action)),
        "changes": audit_changes_for_wire(_model(entry), entry.changes),
        "actor": None if entry.actor_id is None else str(entry.actor_id),
        "account": None if entry.account_id is None else str(entry.account_id),
    }


def summary(entry) -> str:
    """One line: `Membership 12 (Ann in Grid) updated by user 3: role, isSubscriber`."""
    data = payload(entry)
    text = f"{data['objectType']} {data['objectId']} ({data['objectRepr']}) {PAST.get(data['action'], data['action'])}"
    text += f" by user {data['actor']}" if data["actor"] else ""
    if data["changes"] and data["action"] == "update":
        text += ": " + ", ".join(data["changes"])
    text = " ".join(text.split())  # one line, whatever the names held
    return text if len(text) <= SUMMARY_MAX else text[:SUMMARY_MAX - 1] + "…"


def timestamp(entry) -> str:
    value = entry.timestamp if entry.timestamp.tzinfo else entry.timestamp.replace(tzinfo=UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def event(entry, format: str) -> dict:
    """The `Event` resource's attributes (`payload` for json streams, `summary` for text)."""
    attributes = {"timestamp": timestamp(entry), "kind": kind(entry)}
    if format == EventStream.Format.TEXT:
        attributes["summary"] = summary(entry)
    else:
        attributes["payload"] = payload(entry)
    return attributes


def sse_frame(entry, format: str) -> bytes:
    """One Server-Sent Event: `id:` the cursor after it, `event:` its kind, `data:` one line."""
    attributes = event(entry, format)
    if format == EventStream.Format.TEXT:
        data = attributes["summary"].encode()
    else:
        data = orjson.dumps({"id": str(entry.id), **attributes})
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (Position.of(entry).encode().encode(), attributes["kind"].encode(),
                                                 data)
