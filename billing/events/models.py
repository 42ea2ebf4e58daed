"""A user's event stream: one per user, read by its owner's bearer token or its own read
token (stored as a SHA-256 hash only; shown once, on create)."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.visibility import VisibleQuerySet


def hash_read_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class EventStreamQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """One's own stream (site admins see every one)."""
        return self.filter(user_id=user.pk)


class EventStream(models.Model):
    class Format(models.TextChoices):
        JSON = "json"
        TEXT = "text"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="event_stream")
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    read_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = EventStreamQuerySet.as_manager()

    class Meta:
        app_label = "billing"
        ordering = ["id"]

    def __str__(self):
        return f"event stream of user {self.user_id} ({self.format})"
