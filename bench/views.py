"""The ceiling: the same rows as the hot API endpoints, served by plain Django views with
`.values()` and JsonResponse. Mounted only in the benchmark's URLconf."""

from django.core.paginator import Paginator
from django.http import Http404, JsonResponse

from accounts.models import Account, AuditLogEntry, Session, hash_token
from memberships.models import Membership


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
    user = _user(request)
    membership = Membership.objects.for_user(user).filter(pk=pk)
    membership.update(is_subscriber=True)
    return JsonResponse({"data": list(membership.values("id", "is_subscriber", "role"))})
