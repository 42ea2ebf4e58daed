"""What every portal page shares: services' refusals turned into pages and messages, and
the object a page is about, read through `for_user()` and asked `has_perm()` about.

Two habits of every page live here:
- a message says which section of the page it is about (`say(..., section=)`), and the page
  shows it there, so feedback appears where the user acted (`portal_tags.section_messages`);
- a POST never answers with a page (Post/Redirect/Get, failed ones too): a form that did not
  validate is kept in the session (`stash_form`) and shown again, with its errors, by the
  page the user is sent back to (`unstash_form`). Reloading it resubmits nothing.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.forms.utils import ErrorDict, ErrorList
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from core.errors import Forbidden, ServiceError

SERVICE_ERRORS = (ServiceError, ValidationError)

#: the prefix of a message's extra tag naming the section it is about
SECTION_TAG = "section:"
#: session key of forms kept between a failed POST and the page showing it
FORM_STASH = "portal_form_stash"
#: query parameters of a page (lists: search, sort, page; charts: period) kept across its forms
PAGE_PARAMETERS = ("q", "sort", "page", "pbp", "actor", "since", "until", "action", "object_type")


def concrete_user(user):
    """`request.user` unwrapped from its SimpleLazyObject."""
    user.is_authenticated  # noqa: B018 (evaluates the lazy object)
    return getattr(user, "_wrapped", user)


def forbidden_to_403(exc: Exception) -> None:
    """A write the service refuses as forbidden is a 403 page, like the API's."""
    if isinstance(exc, Forbidden):
        raise PermissionDenied(exc.detail)


def service_error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return exc.detail


def say(request, level: int, text: str, section: str = "") -> None:
    """A message for the next page, shown in `section` of it (at the top when none)."""
    messages.add_message(request, level, text, extra_tags=f"{SECTION_TAG}{section}" if section else "")


def message_section(message) -> str:
    for tag in (message.extra_tags or "").split():
        if tag.startswith(SECTION_TAG):
            return tag[len(SECTION_TAG):]
    return ""


# --------------------------------------------------------------------------- forms across a redirect


def stash_form(request, key: str, form, *, page: str | None = None, secret_fields=()) -> None:
    """Keep a form that did not validate for the next GET of its page (`page`, a path; the
    POST's own by default): what was typed (less `secret_fields` and files) and the errors."""
    data = {name: values for name, values in form.data.lists()
            if name not in secret_fields and name != "csrfmiddlewaretoken"}
    stash = {}  # one form at a time: a newer failure replaces an older one never shown
    stash[f"{page or request.path}|{key}"] = {"data": data, "errors": form.errors.get_json_data()}
    request.session[FORM_STASH] = stash


def unstash_form(request, key: str, factory):
    """The form kept under `key` for this page, bound to what was typed and carrying its
    errors (once), or None. `factory(data)` builds the form; the errors are those of the
    POST, not re-checked (a service's refusal could not be)."""
    stash = request.session.get(FORM_STASH)
    key = f"{request.path}|{key}"
    if not stash or key not in stash:
        return None
    entry = stash.pop(key)
    request.session[FORM_STASH] = stash
    data = QueryDict(mutable=True)
    for name, values in entry["data"].items():
        data.setlist(name, values)
    form = factory(data)
    errors = ErrorDict(renderer=form.renderer)
    for field, items in entry["errors"].items():
        error_list = ErrorList(
            [ValidationError(item["message"], code=item.get("code") or None) for item in items],
            error_class="nonfield" if field == NON_FIELD_ERRORS else None,
            renderer=form.renderer,
        )
        errors[field] = error_list
    form._errors = errors
    return form


def page_parameters(querydict) -> str:
    """The page's own query (search, sort, page, period) from a form's `back` field, as a
    query string; nothing else passes."""
    kept = QueryDict(querydict.get("back", ""))
    pairs = [(name, kept.get(name)) for name in PAGE_PARAMETERS if kept.get(name)]
    return f"?{urlencode(pairs)}" if pairs else ""


class ObjectPageMixin(LoginRequiredMixin):
    """A page about one object: read through `model.objects.for_user(user)` at the URL's
    `pk` (404 when unseen); `require(perm, obj)` answers 403 unless the user has `perm` on
    it. Every decision is the backend's (`has_perm`); the page only says what was refused."""

    model = None
    pk_url_kwarg = "pk"
    #: what a refusal says when `require` is not told
    refusal = "You may not do this here."

    def dispatch(self, request, *args, **kwargs):
        # The user itself rather than its lazy wrapper: the role rules cache what they read on
        # the user object, and a page asking about roles directly (to show them) and through
        # has_perm() (to decide) would otherwise fill two caches and read every role twice.
        request.user = concrete_user(request.user)
        return super().dispatch(request, *args, **kwargs)

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

    def form_or_stashed(self, key: str, factory):
        """The page's form `key`: the one a failed POST kept, else `factory(None)`."""
        stashed = unstash_form(self.request, key, factory)
        return stashed if stashed is not None else factory(None)


class PageActionView(ObjectPageMixin, View):
    """A form of an object's page that posts to an address of its own and goes back to the
    page (at `anchor`) whether it worked or not: a message says how it went, next to the
    section, and a form that did not validate is shown there again with its errors.

    A GET of the address asks first (`confirm_template`): destructive actions are one click
    to a page that says what will happen, and a second to do it; no script needed."""

    http_method_names = ["get", "post"]
    #: the page's URL name
    page_url_name = None
    anchor = ""
    #: the page asking "are you sure?" on GET; None: no GET (405)
    confirm_template = None

    def page_url(self) -> str:
        return reverse(self.page_url_name, kwargs={"pk": self.kwargs[self.pk_url_kwarg]})

    def handle_no_permission(self):
        # After signing in, come back to the page itself.
        return redirect_to_login(self.page_url())

    def back_to_page(self):
        return redirect(self.page_url() + page_parameters(self.request.POST)
                        + (f"#{self.anchor}" if self.anchor else ""))

    def say(self, level: int, text: str) -> None:
        say(self.request, level, text, section=self.anchor)

    def success(self, text: str) -> None:
        self.say(messages.SUCCESS, text)

    def error(self, text: str) -> None:
        self.say(messages.ERROR, text)

    def form_failed(self, key: str, form, *, secret_fields=()):
        """Back to the page, which shows `form` again with its errors (PRG)."""
        stash_form(self.request, key, form, page=self.page_url(), secret_fields=secret_fields)
        return self.back_to_page()

    def get(self, request, *args, **kwargs):
        if self.confirm_template is None:
            return self.http_method_not_allowed(request, *args, **kwargs)
        context = self.confirm_context()
        context.setdefault("cancel_url", self.page_url() + (f"#{self.anchor}" if self.anchor else ""))
        context.setdefault("action_url", request.path)
        context.setdefault("back", request.GET.get("back", ""))
        return render(request, self.confirm_template, context)

    def confirm_context(self) -> dict:
        """What the confirmation page says (`question`, `detail`, `button`); checks the
        permission as the POST would, so the page asks only those who may."""
        return {}


def person_name(user) -> str:
    """How a page names a person: their full name, else their email, else their username."""
    return user.get_full_name() or user.email or user.username
