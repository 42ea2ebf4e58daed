"""Who may do what with event streams: each is its owner's (site admins hold everything)."""

from billing.events.models import EventStream
from core import rules

rules.register(EventStream, {
    "billing.view_eventstream": lambda user, stream: stream.user_id == user.pk,
    "billing.delete_eventstream": lambda user, stream: stream.user_id == user.pk,
}, listed=False)
