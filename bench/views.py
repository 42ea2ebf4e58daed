"""The ceiling: the same rows as the hot API endpoints, served by plain Django views with
`.values()` and JsonResponse. Mounted only in the benchmark's URLconf."""

import json
from decimal import Decimal

from auditlog.context import disable_auditlog
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.utils import timezone

from accounts.models import Account, AuditLogEntry, Session, hash_token
from billing.models import Charge, Product, coin, coin_sum
from billing.periods import period_containing
from memberships.models import Membership, Utility


def _user(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    session = Session.objects.select_related("user").filter(key_hash=hash_token(header[7:])).first()
    if session is None:
        raise Http404
    return session.user


def _page(request, queryset, fields):
    size = min(int(request.GET.get("page_size", 50)), 500)
    page = Paginator(queryset.values(*fields), size).page(int(request.GET.get("page", 1)))
    return JsonResponse({"data": list(page), "count": page.paginator.count}, safe=False)


def memberships(request):
    queryset = Membership.objects.for_user(_user(request)).order_by("-id")
    fields = ["id", "is_subscriber", "is_subscriber_datetime", "role", "created", "user_id", "utility_id"]
    if request.GET.get("include"):
        fields += ["user__email", "user__username", "user__first_name", "user__last_name", "utility__name",
                   "utility__billing_day", "utility__account_id"]
    return _page(request, queryset, fields)


def accounts(request):
    queryset = Account.objects.for_user(_user(request)).with_counts().order_by("name", "id")
    return _page(request, queryset, ["id", "name", "primary_color", "secondary_color", "logo_url",
                                     "custom_attributes", "created", "updated", "member_count", "utility_count"])


def auditlog(request, pk):
    _user(request)
    queryset = AuditLogEntry.objects.filter(account_id=pk).order_by("-timestamp", "-id")
    return _page(request, queryset, ["id", "timestamp", "action", "content_type_id", "object_id", "object_repr",
                                     "changes", "remote_addr", "actor_id"])


def membership_patch(request, pk):
    """The same locked write as the API's PATCH: the visible row read under its lock, the
    changed columns updated and one audit entry inserted (nothing written when nothing changes)."""
    user = _user(request)
    value = json.loads(request.body)["data"]["attributes"]["isSubscriber"]
    with transaction.atomic():
        membership = (Membership.objects.for_user(user).select_related("utility").select_for_update()
                      .filter(pk=pk).first())
        if membership is None:
            raise Http404
        if membership.is_subscriber != value:
            now = timezone.now()
            Membership.objects.filter(pk=pk).update(is_subscriber=value, is_subscriber_datetime=now)
            AuditLogEntry.objects.create(
                content_type=ContentType.objects.get_for_model(Membership), object_pk=str(pk), object_id=pk,
                object_repr=f"membership {pk}", action=AuditLogEntry.Action.UPDATE, actor=user,
                remote_addr=request.META.get("REMOTE_ADDR"), account_id=membership.utility.account_id,
                changes={"is_subscriber": [membership.is_subscriber, value],
                         "is_subscriber_datetime": [str(membership.is_subscriber_datetime), str(now)]})
            membership.is_subscriber, membership.is_subscriber_datetime = value, now
    return JsonResponse({"data": {"id": pk, "is_subscriber": membership.is_subscriber, "role": membership.role}})


def membership_post(request):
    """A membership the way `membership_create` adds one: the utility's row read (visible to
    the caller) and locked, the insert (a second one of the same pair: 409), and one audit
    entry. No seat count: the bench's utilities have no seat limit, so the API counts none."""
    user = _user(request)
    data = json.loads(request.body)["data"]
    relationships, attributes = data["relationships"], data.get("attributes", {})
    role = attributes.get("role", Membership.Role.SPECTATOR)
    is_subscriber = attributes["isSubscriber"]
    with transaction.atomic():
        utility = (Utility.objects.for_user(user).select_for_update()
                   .filter(pk=int(relationships["utility"]["data"]["id"])).first())
        if utility is None:
            raise Http404
        try:
            with transaction.atomic(), disable_auditlog():  # the one audit entry is written below
                membership = Membership.objects.create(user_id=int(relationships["user"]["data"]["id"]),
                                                       utility=utility, role=role, is_subscriber=is_subscriber)
        except IntegrityError:
            return JsonResponse({"errors": [{"code": "duplicate"}]}, status=409)
        AuditLogEntry.objects.create(
            content_type=ContentType.objects.get_for_model(Membership), object_pk=str(membership.pk),
            object_id=membership.pk, object_repr=f"membership {membership.pk}",
            action=AuditLogEntry.Action.CREATE, actor=user, remote_addr=request.META.get("REMOTE_ADDR"),
            account_id=utility.account_id,
            changes={"id": ["None", str(membership.pk)], "user": ["None", str(membership.user_id)],
                     "utility": ["None", str(utility.pk)], "role": ["None", role],
                     "is_subscriber": ["None", str(is_subscriber)],
                     "is_subscriber_datetime": ["None", str(membership.is_subscriber_datetime)],
                     "created": ["None", str(membership.created)]})
    return JsonResponse({"data": {"id": membership.pk, "user_id": membership.user_id, "utility_id": utility.pk,
                                  "role": role, "is_subscriber": is_subscriber}}, status=201)


CHARGE_FIELDS = ["id", "kind", "amount", "description", "additional_data", "charged_at", "billing_period_start",
                 "billing_period_end", "created", "product_id", "merchant_id"]


def charges(request):
    """The ledger of one utility in the current billing period, with the count and the
    totals (overall and by kind) in one aggregate, as the API's `meta`."""
    queryset = (Charge.objects.for_user(_user(request)).filter(utility_id=int(request.GET["utility"]))
                .filter(Charge.in_period(0)).order_by("-charged_at", "-id"))
    by_kind = {kind: coin_sum(filter=Q(kind=kind)) for kind in Charge.Kind.values}
    sums = queryset.order_by().aggregate(rows=Count("pk"), total=coin_sum(), **by_kind)
    size = min(int(request.GET.get("page_size", 50)), 500)
    offset = (int(request.GET.get("page", 1)) - 1) * size
    rows = list(queryset.values(*CHARGE_FIELDS)[offset:offset + size])
    return JsonResponse({"data": rows, "count": sums["rows"], "total": coin(sums["total"]),
                         "totals_by_kind": {kind: coin(sums[kind]) for kind in Charge.Kind.values}})


def products(request):
    """One utility's products with the coins each used in the current period (and whether
    that is the whole limit)."""
    queryset = (Product.objects.for_user(_user(request)).filter(utility_id=int(request.GET["utility"]))
                .with_usage().order_by("name", "id"))
    size = min(int(request.GET.get("page_size", 50)), 500)
    page = Paginator(queryset.values("id", "name", "flavour", "allowance", "limit", "coins_used", "created",
                                     "updated", "product_type_id", "utility_id"), size).page(1)
    rows = list(page)
    for row in rows:
        row["at_limit"] = row["limit"] > 0 and row["coins_used"] >= row["limit"]
    return JsonResponse({"data": rows, "count": page.paginator.count})


def charge_post(request):
    """A charge the way `charge_create` writes one: lock the product's row, sum its charges
    in the period, refuse past the limit (409) or insert, plus the audit entry every write gets."""
    user = _user(request)
    data = json.loads(request.body)["data"]
    attributes = data["attributes"]
    amount = Decimal(attributes["amount"]).quantize(Decimal("0.0001"))
    if not user.has_perm("billing.add_charge"):
        return JsonResponse({"errors": [{"code": "permission_denied"}]}, status=403)
    now = timezone.now()
    with transaction.atomic():
        product = (Product.objects.select_for_update().select_related("utility")
                   .filter(pk=int(data["relationships"]["product"]["data"]["id"])).first())
        if product is None:
            raise Http404
        period = period_containing(product.utility.billing_day, now)
        if amount > 0 and product.limit > 0:
            used = coin(Charge.objects.filter(product_id=product.pk, billing_period_start=period.start)
                        .aggregate(total=coin_sum())["total"])
            if used + amount > product.limit:
                return JsonResponse({"errors": [{"code": "coin_limit_exceeded"}]}, status=409)
        with disable_auditlog():  # the one audit entry is written below, as a plain insert
                charge = Charge.objects.create(product=product, utility=product.utility, kind=attributes["kind"],
                                           amount=amount, description=attributes.get("description", ""),
                                           charged_at=now, billing_period_start=period.start,
                                           billing_period_end=period.end, created=now)
        AuditLogEntry.objects.create(
            content_type=ContentType.objects.get_for_model(Charge), object_pk=str(charge.pk), object_id=charge.pk,
            object_repr=str(charge), action=AuditLogEntry.Action.CREATE, actor=user,
            remote_addr=request.META.get("REMOTE_ADDR"), account_id=product.utility.account_id,
            changes={"amount": ["None", str(amount)], "kind": ["None", charge.kind],
                     "product": ["None", str(product.pk)], "billing_period_start": ["None", str(period.start)]})
    return JsonResponse({"data": {field: getattr(charge, field) for field in CHARGE_FIELDS}}, status=201)


def events(request, pk):
    """An event stream's page: the same stream lookup, owner's scope, cursor and rows as
    `/api/v1/event-streams/{id}/events/`, as `.values()`."""
    from billing.events.models import EventStream
    from billing.events.selectors import EVENT_COLUMNS, Position, in_commit_order, scope_for

    user = _user(request)
    stream = EventStream.objects.for_user(user).select_related("user").filter(pk=pk).first()
    if stream is None:
        raise Http404
    cursor = request.GET.get("cursor")
    position = Position.decode(cursor) if cursor else None
    size = min(int(request.GET.get("page_size", 50)), 500)
    rows = list(in_commit_order(position, scope=scope_for(stream.user)).values(*EVENT_COLUMNS)[:size])
    last = Position(rows[-1]["txid"] or 0, rows[-1]["id"]).encode() if rows else cursor
    return JsonResponse({"data": rows, "next": last}, safe=False)


def events_deep_cursor(request, pk):
    """The cursor `back` events before the end of the stream's owner's events (once, to set
    up the deep-page measurement)."""
    from billing.events.models import EventStream
    from billing.events.selectors import Position, in_commit_order, scope_for

    _user(request)
    stream = EventStream.objects.select_related("user").get(pk=pk)
    entries = in_commit_order(None, scope=scope_for(stream.user))
    back = int(request.GET.get("back", 100))
    total = entries.count()
    entry = entries.only("id", "txid")[max(0, total - back - 1)]
    return JsonResponse({"cursor": Position.of(entry).encode(), "before_it": total - back - 1})
