"""What every portal page shares: services' refusals turned into pages and messages, and
the object a page is about, read through `for_user()` and asked `has_perm()` about."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404

from core.errors import Forbidden, ServiceError

SERVICE_ERRORS = (ServiceError, ValidationError)


def forbidden_to_403(exc: Exception) -> None:
    """A write the service refuses as forbidden is a 403 page, like the API's."""
    if isinstance(exc, Forbidden):
        raise PermissionDenied(exc.detail)


def service_error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return exc.detail


class ObjectPageMixin(LoginRequiredMixin):
    """A page about one object: `model.objects.for_user(user)` at the URL's `pk` (404 when
    unseen), with `related` joined; `require(perm)` answers 403 unless the user has it on
    the object."""

    model = None
    related = ()
    pk_url_kwarg = "pk"

    def get_page_object(self):
        if not hasattr(self, "_page_object"):
            visible = self.model.objects.for_user(self.request.user).select_related(*self.related)
            self._page_object = get_object_or_404(visible, pk=self.kwargs[self.pk_url_kwarg])
        return self._page_object

    def require(self, perm: str, obj=None, message: str = "You may not do this here."):
        obj = self.get_page_object() if obj is None else obj
        if not self.request.user.has_perm(perm, obj):
            raise PermissionDenied(message)
        return obj
