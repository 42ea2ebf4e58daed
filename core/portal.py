"""What every portal page shares: services' refusals turned into pages and messages, and
the object a page is about, read through `for_user()` and asked `has_perm()` about."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View

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
    """A page about one object: read through `model.objects.for_user(user)` at the URL's
    `pk` (404 when unseen); `require(perm, obj)` answers 403 unless the user has `perm` on
    it. Every decision is the backend's (`has_perm`); the page only says what was refused."""

    model = None
    pk_url_kwarg = "pk"
    #: what a refusal says when `require` is not told
    refusal = "You may not do this here."

    def page_queryset(self):
        return self.model.objects.for_user(self.request.user)

    def get_page_object(self):
        if not hasattr(self, "_page_object"):
            self._page_object = get_object_or_404(self.page_queryset(), pk=self.kwargs[self.pk_url_kwarg])
        return self._page_object

    def require(self, perm: str, obj, message: str | None = None):
        if not self.request.user.has_perm(perm, obj):
            raise PermissionDenied(message or self.refusal)
        return obj


class PageActionView(ObjectPageMixin, View):
    """A form of an object's page that posts to an address of its own: back to the page (at
    `anchor`) when done, the page again with the bound form when not."""

    http_method_names = ["post"]
    #: the page's URL name and view class
    page_url_name = None
    page_view = None
    anchor = ""
    #: hand the page the object read here (False when the page reads it with more, e.g. counts)
    share_object = True

    def page_url(self) -> str:
        return reverse(self.page_url_name, kwargs={"pk": self.kwargs[self.pk_url_kwarg]})

    def handle_no_permission(self):
        # These addresses take POSTs only; after signing in, come back to the page itself.
        return redirect_to_login(self.page_url())

    def back_to_page(self):
        return redirect(self.page_url() + (f"#{self.anchor}" if self.anchor else ""))

    def render_page(self, **forms):
        page = self.page_view()
        page.setup(self.request, *self.args, **self.kwargs)
        if self.share_object:
            page._page_object = self.get_page_object()
        return page.render_to_response(page.get_context_data(**forms))
