"""The JSON:API face of event streams: the streams themselves, their events by cursor
(`/events/`), and the same events pushed as Server-Sent Events (`/sse/`).

`/sse/` is a plain async Django view, not a DRF one: its response is a never-ending
`text/event-stream` served under ASGI (config/asgi.py, core.asgi), fed by this process's one
listener (billing.events.hub). It holds no thread and no database connection while it waits.
"""

import asyncio
import copy

from django.conf import settings
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views import View
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response

from accounts.authentication import WWW_AUTHENTICATE, BearerTokenAuthentication
from billing.events import selectors, services
from billing.events.hub import CATCH_UP_BATCH, Listener, catch_up, hub
from billing.events.models import EventStream, hash_read_token
from billing.events.selectors import Position
from jsonapi.encoding import Document, dumps
from jsonapi.errors import ApiError
from jsonapi.links import JSONAPI_MEMBER
from jsonapi.middleware import jsonapi_error_response
from jsonapi.negotiation import MEDIA_TYPE
from jsonapi.serializers import ModelSerializer, ResourceRelatedField
from jsonapi.viewsets import CreateModelMixin, ListModelMixin, RetrieveModelMixin, RosterAPIView, RosterViewSet

EVENT_STREAM_MEDIA_TYPE = "text/event-stream"


# --------------------------------------------------------------------------- event streams


class EventStreamSerializer(ModelSerializer):
    format = serializers.ChoiceField(choices=EventStream.Format.choices, required=False,
                                     default=EventStream.Format.JSON)
    read_token = serializers.SerializerMethodField()
    user = ResourceRelatedField(read_only=True)

    class Meta:
        model = EventStream
        fields = ["format", "created", "read_token", "user"]
        read_only_fields = ["created"]
        fixed_fields = ["format"]

    @extend_schema_field({"type": "string", "description": "Authorises `/sse/?token=…`; only in the response "
                                                           "that created the stream."})
    def get_read_token(self, stream):
        return getattr(stream, "plain_read_token", None)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("read_token") is None:
            data.pop("read_token", None)  # shown once, in the response that created it
        return data


class EventStreamViewSet(ListModelMixin, RetrieveModelMixin, CreateModelMixin, mixins.DestroyModelMixin,
                         RosterViewSet):
    """One stream per user (409 `duplicate`); each is its owner's, site admins see all."""

    queryset = EventStream.objects.select_related("user")
    serializer_class = EventStreamSerializer
    ordering_fields = ["created"]
    http_method_names = ["get", "post", "delete", "head", "options"]
    error_statuses = {"post": (409,)}  # duplicate: one stream per user

    def perform_create(self, serializer):
        stream, token = services.event_stream_create(actor=self.request.user, user=self.request.user,
                                                     format=serializer.validated_data.get("format", "json"))
        stream.plain_read_token = token
        serializer.instance = stream

    def perform_destroy(self, instance):
        services.event_stream_delete(actor=self.request.user, event_stream=instance)


# --------------------------------------------------------------------------- events by cursor


class EventSerializer(serializers.Serializer):
    id = serializers.CharField()
    timestamp = serializers.DateTimeField()
    kind = serializers.CharField(help_text="The object's type in lower case, a dot, the action: `membership.update`.")
    payload = serializers.JSONField(required=False, help_text="What changed (streams of format `json`): objectType, "
                                    "objectId, objectRepr, action, changes (secrets masked), actor, account.")
    summary = serializers.CharField(required=False, help_text="One line of text (streams of format `text`).")

    class Meta:
        resource_name = "Event"


def _stream_for(request, pk) -> EventStream:
    """The caller's stream (any stream for site admins); 404 otherwise."""
    stream = EventStream.objects.for_user(request.user).select_related("user").filter(pk=pk).first()
    if stream is None:
        raise Http404
    return stream


@extend_schema(
    summary="The stream's events after a cursor, oldest first",
    description="The audit entries the stream's owner may see, in commit order. Follow `links.next` (it is "
                "always given) to poll: no event is skipped or repeated, also while others write.",
    parameters=[
        OpenApiParameter("page[cursor]", OpenApiTypes.STR, description="Opaque: `links.next` of the previous "
                         "page, or an SSE event's `id`. Without it, the first events."),
        OpenApiParameter("page[size]", OpenApiTypes.INT, description="Events per page (default 50, at most 500)."),
        OpenApiParameter("sort", exclude=True),  # commit order only
    ],
    responses=EventSerializer(many=True),
)
class EventListView(RosterAPIView):
    resource_name = "Event"
    extra_query_params = ("page[cursor]", "page[size]")
    serializer_class = EventSerializer

    def get(self, request, pk):
        stream = _stream_for(request, pk)
        position = _cursor_parameter(request.query_params.get("page[cursor]"), "page[cursor]")
        size = _page_size(request.query_params.get("page[size]"))
        entries = selectors.entries_after(position, scope=selectors.scope_for(stream.user), limit=size)
        base = request.build_absolute_uri(reverse("eventstream-events", args=[stream.pk]))
        data = [{"type": "Event", "id": str(entry.id), "attributes": selectors.event(entry, stream.format),
                 "meta": {"cursor": Position.of(entry).encode()}} for entry in entries]
        last = Position.of(entries[-1]) if entries else position
        # `next` is always given: a poller follows it, and an empty page's next is where it stands.
        query = [] if last is None else [f"page%5Bcursor%5D={last.encode()}"]
        if size != settings.ROSTER_EVENTS_PAGE_SIZE:
            query.append(f"page%5Bsize%5D={size}")
        links = {"self": request.build_absolute_uri(), "next": base + ("?" + "&".join(query) if query else "")}
        return Response(Document({"data": data, "links": links}))


def _cursor_parameter(value, name):
    if value is None or value == "":
        return None
    try:
        return Position.decode(value)
    except ValueError:
        raise ApiError("Not a cursor: send one a page or an event gave you.", parameter=name) from None


def _page_size(value) -> int:
    if value is None or value == "":
        return settings.ROSTER_EVENTS_PAGE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= settings.ROSTER_EVENTS_MAX_PAGE_SIZE:
        raise ApiError(f"`page[size]` is a whole number from 1 to {settings.ROSTER_EVENTS_MAX_PAGE_SIZE}.",
                       parameter="page[size]")
    return int(value)


# --------------------------------------------------------------------------- Server-Sent Events

SSE_QUERY_PARAMETERS = {"token", "lastEventId"}


class EventStreamSSEView(View):
    """`GET /api/v1/event-streams/{id}/sse/`: the stream's events as they are committed.

    Authorised by the owner's bearer token (or the portal's cookie) or by the stream's read
    token as `?token=` (browsers' EventSource sends no headers). Resumes after the event
    named by `Last-Event-ID` (or `?lastEventId=`); without it, starts with the next event.
    A `: keep-alive` comment goes out every ROSTER_SSE_KEEPALIVE_SECONDS. A plain async
    Django view (not DRF's): its response is an async iterator that ASGI streams.
    """

    http_method_names = ["get", "head"]

    async def get(self, request, pk):
        return await _sse(request, pk)

    async def head(self, request, pk):
        return await _sse(request, pk)

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = jsonapi_error_response(405, "method_not_allowed", f"Method {request.method} is not allowed "
                                          "here.", {"Allow": "GET, HEAD"})

        async def refuse():
            return response

        return refuse()


async def _sse(request, pk):
    if not _accepts_event_stream(request.headers.get("Accept")):
        return jsonapi_error_response(406, "not_acceptable", f"This endpoint answers {EVENT_STREAM_MEDIA_TYPE}.")
    unknown = sorted(set(request.GET) - SSE_QUERY_PARAMETERS)
    if unknown:
        return _parameter_error(f"Unknown query parameter `{unknown[0]}` here.", unknown[0])
    resume_text = request.headers.get("Last-Event-ID") or request.GET.get("lastEventId")
    resume = None
    if resume_text:
        try:
            resume = Position.decode(resume_text.strip())
        except ValueError:
            return _parameter_error("Last-Event-ID is not the id of one of this stream's events.", "lastEventId")
    if not pk.isdigit() or len(pk) > 18:
        return _not_found()
    outcome = await hub.run(_authorise, request, int(pk), request.GET.get("token"))
    if isinstance(outcome, HttpResponseBase):  # the refusal
        return outcome
    if request.method == "HEAD":  # the headers a GET would answer, and no stream
        response = HttpResponse(content_type=EVENT_STREAM_MEDIA_TYPE)
        response["Cache-Control"] = "no-cache"
        return response
    listener = Listener(stream_id=outcome["stream"].pk, user_id=outcome["stream"].user_id,
                        session_id=outcome["session_id"], cookie_key=outcome["cookie_key"],
                        format=outcome["stream"].format, scope=outcome["scope"])
    response = StreamingHttpResponse(_frames(listener, resume), content_type=EVENT_STREAM_MEDIA_TYPE)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies pass each event on at once
    return response


def _accepts_event_stream(accept) -> bool:
    if not accept:
        return True
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {EVENT_STREAM_MEDIA_TYPE, "text/*", "*/*"})


def _authorise(request, pk, read_token):
    """The stream, the session that authorised it and the owner's scope; or the refusal."""
    if read_token:
        stream = (EventStream.objects.select_related("user").filter(pk=pk, read_token_hash=hash_read_token(read_token))
                  .first())
        if stream is None or not stream.user.is_active:
            return _not_found()  # a wrong token says nothing of whether the stream exists
        return {"stream": stream, "session_id": None, "cookie_key": None, "scope": selectors.scope_for(stream.user)}
    try:
        authenticated = BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed as exc:
        return jsonapi_error_response(401, "authentication_failed", str(exc.detail),
                                      {"WWW-Authenticate": WWW_AUTHENTICATE})
    cookie_key = None
    if authenticated is not None:
        user, session = authenticated
    else:
        user, session = request.user, None  # the portal's session cookie
        cookie_key = request.session.session_key if user.is_authenticated else None
        if not user.is_authenticated:
            return jsonapi_error_response(401, "not_authenticated", "Send a bearer token or the stream's read token "
                                          "as `?token=`.", {"WWW-Authenticate": WWW_AUTHENTICATE})
    stream = EventStream.objects.for_user(user).select_related("user").filter(pk=pk).first()
    if stream is None:
        return _not_found()
    return {"stream": stream, "session_id": getattr(session, "pk", None), "cookie_key": cookie_key,
            "scope": selectors.scope_for(stream.user)}


async def _frames(listener, resume):
    """The response body: catch up from `resume`, then what the hub delivers; keep-alives
    in between. Ends when the client goes (the task is cancelled) or the hub closes it."""
    start = await hub.subscribe(listener)
    try:
        yield b"retry: 3000\n\n"
        sent = start
        if resume is not None:
            sent = resume
            while True:
                frames = await hub.run(catch_up, sent, listener.scope, listener.format)
                for position, frame in frames:
                    sent = position
                    yield frame
                if len(frames) < CATCH_UP_BATCH:
                    break
        keepalive = settings.ROSTER_SSE_KEEPALIVE_SECONDS
        while True:
            try:
                position, frame = await asyncio.wait_for(listener.queue.get(), keepalive)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if frame is None:
                return
            if position <= sent:
                continue  # already sent while catching up
            sent = position
            yield frame
    finally:
        hub.unsubscribe(listener)


def _not_found():
    return jsonapi_error_response(404, "not_found", "Not found.")


def _parameter_error(detail, parameter):
    body = {"errors": [{"status": "400", "code": "invalid", "detail": detail, "source": {"parameter": parameter}}],
            "jsonapi": JSONAPI_MEMBER}
    return HttpResponse(dumps(body), status=400, content_type=MEDIA_TYPE)


# --------------------------------------------------------------------------- the OpenAPI document

SSE_OPERATION = {
    "get": {
        "operationId": "event_streams_sse_retrieve",
        "summary": "The stream's events, pushed as Server-Sent Events",
        "description": "A `text/event-stream` that stays open: each event is `id:` (a cursor, also valid as "
                       "`page[cursor]` of `/events/`), `event:` (its `kind`) and one `data:` line (the event as "
                       "JSON for format `json`, its summary for format `text`); a `: keep-alive` comment comes "
                       "every 15 seconds. Resume with `Last-Event-ID` (EventSource sends it when it reconnects). "
                       "Authorised by the owner's bearer token, or by the stream's `readToken` as `?token=` "
                       "(EventSource cannot send headers).",
        "tags": ["EventStream"],
        "parameters": [
            {"in": "path", "name": "id", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
            {"in": "query", "name": "token", "required": False, "schema": {"type": "string"},
             "description": "The stream's read token (instead of a bearer token)."},
            {"in": "query", "name": "lastEventId", "required": False, "schema": {"type": "string"},
             "description": "Like the `Last-Event-ID` header, for clients that cannot send it."},
            {"in": "header", "name": "Last-Event-ID", "required": False, "schema": {"type": "string"},
             "description": "Resume after this event (its `id:`)."},
        ],
        # or no credentials but the stream's read token (`token` above)
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "responses": {
            "200": {"description": "The events, as they are committed; the response never ends by itself.",
                    "content": {EVENT_STREAM_MEDIA_TYPE: {"schema": {"type": "string"}}}},
            "400": {"description": "An unknown query parameter or a `Last-Event-ID` that is no event's id.",
                    "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ErrorDocument"}}}},
            "401": {"description": "Neither a valid bearer token nor a read token.",
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                    "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ErrorDocument"}}}},
            "404": {"description": "No such stream, one the caller may not read, or a wrong read token.",
                    "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ErrorDocument"}}}},
            "406": {"description": "The `Accept` header excludes `text/event-stream` (`not_acceptable`).",
                    "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ErrorDocument"}}}},
        },
    },
}


def document_sse(result, generator, request, public):
    """A postprocessing hook (SPECTACULAR_SETTINGS): `/sse/` is a plain async view the
    generator does not see."""
    paths = result.setdefault("paths", {})
    operation = copy.deepcopy(SSE_OPERATION)
    # what every operation says of the HTTP server in front (an overlong request line)
    events = paths.get("/api/v1/event-streams/{id}/events/", {}).get("get", {}).get("responses", {})
    if "414" in events:
        operation["get"]["responses"]["414"] = events["414"]
    operation["get"]["responses"]["401"]["headers"] = events.get("401", {}).get(
        "headers", operation["get"]["responses"]["401"]["headers"])
    paths["/api/v1/event-streams/{id}/sse/"] = operation
    result["paths"] = dict(sorted(paths.items()))
    return result
