"""Glue between django-auditlog and our authentication.

auditlog's middleware captures `request.user` before the view runs, which is too early
for bearer tokens: DRF authenticates inside the view. `set_audit_actor` puts the
authenticated user into the same context the middleware opened, so every entry written
later in the request names its actor.
"""

from contextlib import contextmanager

from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware

MASK = "********"


# Fields whose values never leave the server, however they were stored: the one masking
# rule every face applies to audit `changes` — these names on any model (exact names, not
# substrings), plus each model's own `mask_fields` given to auditlog (an activation code's
# `code` is a secret; a product type's `code` is not).
SECRET_NAMES = frozenset({"password", "token", "secret", "key_hash", "read_token"})


def secret_fields(model) -> frozenset:
    """The fields a model registered with auditlog as masked."""
    from auditlog.registry import auditlog

    if model is None or not auditlog.contains(model):
        return frozenset()
    return frozenset(auditlog.get_model_fields(model)["mask_fields"])


def mask_change(field: str, value, model=None):
    """An audit change with a secret's values masked (empty values stay empty)."""
    if field.lower() not in SECRET_NAMES and field not in secret_fields(model):
        return value
    return [MASK if item not in (None, "") else item for item in value] if isinstance(value, list) else MASK


def mask_secret(value) -> str:
    """Replace a secret entirely (auditlog's default mask keeps half the string)."""
    return MASK


def set_audit_actor(user) -> None:
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    if user is not None and getattr(user, "is_authenticated", False):
        context["actor"] = user


def register_audited(model, **options):
    """Register a model with django-auditlog, leaving out reverse relations.

    auditlog otherwise lists every reverse one-to-many accessor (e.g. a user's sessions)
    as a changed "field" of each created object.
    """
    from auditlog.registry import auditlog

    reverse = [f.name for f in model._meta.get_fields() if f.auto_created and not f.concrete]
    options["exclude_fields"] = [*options.get("exclude_fields", ()), *reverse]
    auditlog.register(model, **options)


@contextmanager
def audit_context(**values):
    """Temporarily override what the next audit entries record (e.g. `actor`, `actor_email`)."""
    try:
        context = auditlog_value.get()
    except LookupError:
        yield
        return
    saved = {key: context.get(key, _MISSING) for key in values}
    context.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is _MISSING:
                context.pop(key, None)
            else:
                context[key] = value


_MISSING = object()


class AuditlogMiddleware(_AuditlogMiddleware):
    """auditlog's middleware, taking the client address from `core.net.client_ip`.

    Its own version trusts any X-Forwarded-For a client sends (and a non-address there made
    every audited write fail on PostgreSQL's inet column).
    """

    @staticmethod
    def _get_remote_addr(request):
        from core.net import client_ip

        return client_ip(request)
