"""Glue between django-auditlog and our authentication.

auditlog's middleware captures `request.user` before the view runs, which is too early
for bearer tokens: DRF authenticates inside the view. `set_audit_actor` puts the
authenticated user into the same context the middleware opened, so every entry written
later in the request names its actor.
"""

import copy
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


def snapshot(instance):
    """A copy of a model instance as read, to diff against when it is saved (`audited_update`)."""
    return copy.copy(instance)


def audited_update(instance, old, fields) -> None:
    """Save `fields` of `instance` (an UPDATE of those columns only) and write its audit entry,
    diffed against `old`, the `snapshot` taken when the row was read under its lock.

    auditlog's own pre_save receiver would read the row once more to diff against; a service
    that has just read it locked already holds the exact old values. The entry is the one
    auditlog writes (same diff, masking, actor and account), only without that read."""
    from auditlog import get_logentry_model
    from auditlog.context import disable_auditlog
    from auditlog.receivers import _create_log_entry
    from django.conf import settings

    fields = list(fields)
    if not fields:
        return
    with disable_auditlog():
        instance.save(update_fields=fields)
    _create_log_entry(action=get_logentry_model().Action.UPDATE, instance=instance, sender=type(instance),
                      diff_old=old, diff_new=instance, fields_to_check=fields,
                      use_json_for_changes=settings.AUDITLOG_STORE_JSON_CHANGES)


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
