"""Writes to event streams (DESIGN.md rule 1): audited like every other write."""

import secrets

from django.db import IntegrityError, transaction

from billing.events.models import EventStream, hash_read_token
from core.errors import Conflict, ServiceError

#: bytes of randomness in a read token (256 bits, like a session token)
READ_TOKEN_BYTES = 32


@transaction.atomic
def event_stream_create(*, actor, user, format: str = EventStream.Format.JSON) -> tuple[EventStream, str]:
    """The user's event stream and its read token, which is returned here only (stored hashed)."""
    if format not in EventStream.Format.values:
        raise ServiceError(f"`format` is one of {', '.join(EventStream.Format.values)}.", field="format")
    if EventStream.objects.filter(user_id=user.pk).exists():
        raise Conflict("You already have an event stream; delete it to start a new one.", code="duplicate")
    token = secrets.token_urlsafe(READ_TOKEN_BYTES)
    try:
        with transaction.atomic():
            stream = EventStream.objects.create(user=user, format=format, read_token_hash=hash_read_token(token))
    except IntegrityError:
        raise Conflict("You already have an event stream; delete it to start a new one.", code="duplicate") from None
    return stream, token


@transaction.atomic
def event_stream_delete(*, actor, event_stream: EventStream) -> None:
    """End the stream: its read token stops working and its live listeners are closed."""
    event_stream.delete()
