"""Event streams in the admin: listed, created (the read token shown once, in a message) and
deleted through the services; the token's hash is never shown."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from billing.events import services
from billing.events.models import EventStream
from core.admin import ServiceModelAdmin, Writes


@admin.register(EventStream)
class EventStreamAdmin(ServiceModelAdmin):
    list_display = ("user", "format", "created")
    list_filter = ("format",)
    search_fields = ("user__email", "user__username")
    autocomplete_fields = ("user",)
    fields = ("user", "format", "created")
    readonly_fields = ("created",)
    writes = Writes(services, "event_stream", fields=("user", "format"))

    def get_readonly_fields(self, request, obj=None):
        # A stream is fixed once made: delete it and make another to change it.
        return ("user", "format", "created") if obj is not None else self.readonly_fields

    def create(self, request, form):
        stream, token = services.event_stream_create(actor=request.user, user=form.cleaned_data["user"],
                                                     format=form.cleaned_data["format"])
        messages.warning(request, _("The stream's read token (shown only now): %(token)s") % {"token": token})
        return stream
