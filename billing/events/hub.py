"""One listener per process for every live event stream it serves (`/sse/`).

A connected SSE client is a `Listener`: a small queue and its owner's `Scope`, nothing
else: no thread, no database connection. The process's `Hub` is one asyncio task that
wakes when audit entries may have been committed, reads the new ones once for the whole
process, in commit order from its own position (billing.events.selectors, core.txid), and
puts each entry's SSE frame into the queue of every listener whose owner may see it.

It wakes on PostgreSQL's `LISTEN roster_audit` (a trigger on the audit table NOTIFYs at
every commit that wrote entries, from any process on any machine sharing the database),
and re-reads every `ROSTER_EVENTS_NOTIFY_FALLBACK_SECONDS` besides, in case the listening
connection was down. On SQLite, where there is nothing to listen to, it polls every
`ROSTER_EVENTS_POLL_SECONDS`. While entries wait behind an older transaction that is still
open (core.txid), it re-reads soon after, since that transaction's end need not NOTIFY.

Rights are re-checked for all listeners at once (a few queries, not one per listener):
before a batch that changes accounts, account memberships, users, sessions, signed-in
browsers or event streams is delivered, and every `ROSTER_SSE_RECHECK_SECONDS`. A listener
whose stream was deleted, whose owner was deactivated or whose session ended (the bearer
token revoked or expired; for a listener the portal's cookie authorised, the browser signed
out, its cookie session ended or expired, or the password changed since) is closed; the
others get their owner's current scope.

All database work runs on one thread of the hub's own, so a process holds one connection
for its listeners whatever their number.
"""

import asyncio
import contextlib
import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from billing.events import selectors
from billing.events.models import EventStream
from billing.events.selectors import Position

log = logging.getLogger(__name__)

CHANNEL = "roster_audit"  # accounts/migrations/0012_auditlogentry_txid.py
BATCH = 500
#: object types whose change may change who sees what, or end a listener
RECHECK_TYPES = frozenset({"Account", "AccountMembership", "User", "Session", "BrowserSession", "EventStream"})
#: the shortest and longest wait before re-reading entries held back by an open transaction
RETRY_MIN, RETRY_MAX = 0.01, 1.0


class Listener:
    """One connected client: what it may see and the frames waiting for it."""

    __slots__ = ("stream_id", "user_id", "session_id", "cookie_key", "format", "scope", "queue", "closed")

    def __init__(self, *, stream_id, user_id, session_id, format, scope, cookie_key=None):
        self.stream_id = stream_id
        self.user_id = user_id
        self.session_id = session_id  # the bearer session that authorised it (None: cookie or read token)
        self.cookie_key = cookie_key  # the portal's cookie session that authorised it (None: token)
        self.format = format
        self.scope = scope
        self.queue = asyncio.Queue()
        self.closed = False

    def put(self, position, frame):
        if self.closed:
            return
        if self.queue.qsize() >= settings.ROSTER_SSE_QUEUE_LIMIT:
            self.close()  # too slow: it resumes from its last event with Last-Event-ID
            return
        self.queue.put_nowait((position, frame))

    def close(self):
        if not self.closed:
            self.closed = True
            self.queue.put_nowait((None, None))


class Hub:
    def __init__(self):
        self.listeners: set[Listener] = set()
        self.position: Position | None = None
        self._executor = None
        self._tasks = []
        self._wake = None
        self._ready = None
        self._loop = None
        self._last_recheck = 0.0

    # ------------------------------------------------------------------ the database, on one thread

    async def run(self, function, *args, **kwargs):
        """Run a database function on the hub's thread (not the request's: nothing waits on it)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-events")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _with_fresh_connection, function, args, kwargs)

    # ------------------------------------------------------------------ listeners

    async def subscribe(self, listener: Listener) -> Position:
        """Add a listener; the position from which the hub delivers to it (every later entry
        it may see reaches its queue)."""
        await self._start()
        await self._ready.wait()
        self.listeners.add(listener)
        return self.position

    def unsubscribe(self, listener: Listener) -> None:
        listener.closed = True
        self.listeners.discard(listener)

    # ------------------------------------------------------------------ the task

    async def _start(self):
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._tasks and not all(task.done() for task in self._tasks):
            return
        if self._loop is not loop:  # a new event loop (tests start several): start afresh
            self.listeners.clear()
            self._executor = None
        self._loop = loop
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        # A clean context: the task must not inherit the request's (its thread-sensitive
        # executor ends with the request).
        context = contextvars.Context()
        self._tasks = [loop.create_task(self._read_loop(), context=context)]
        vendor = connection.vendor
        waker = self._listen_loop() if vendor == "postgresql" else self._poll_loop()
        self._tasks.append(loop.create_task(waker, context=context))

    async def stop(self):
        """End the tasks and close every listener (a worker shutting down)."""
        for listener in list(self.listeners):
            listener.close()
        self.listeners.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(executor, _close_connection)
            executor.shutdown(wait=True)
        self.position = None

    def poke(self):
        if self._wake is not None:
            self._wake.set()

    async def _poll_loop(self):
        while True:
            await asyncio.sleep(settings.ROSTER_EVENTS_POLL_SECONDS)
            self.poke()

    async def _listen_loop(self):
        import psycopg

        while True:
            try:
                params = await self.run(_libpq_params)
                async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as listening:
                    await listening.execute(f"LISTEN {CHANNEL}")
                    self.poke()  # whatever was committed while nobody listened
                    while True:
                        async for _ in listening.notifies(timeout=settings.ROSTER_EVENTS_NOTIFY_FALLBACK_SECONDS):
                            self.poke()
                        self.poke()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event streams: the LISTEN connection failed; reconnecting")
                await asyncio.sleep(1)

    async def _read_loop(self):
        retry = RETRY_MIN
        while True:
            try:
                if self.position is None:
                    self.position = await self.run(selectors.last_position)
                    self._ready.set()
                await self._wake.wait()
                self._wake.clear()
                pending = await self._read_new()
                if pending:  # held back by an older open transaction: look again soon
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, RETRY_MAX)
                    self.poke()
                else:
                    retry = RETRY_MIN
                if time.monotonic() - self._last_recheck > settings.ROSTER_SSE_RECHECK_SECONDS and self.listeners:
                    await self._recheck()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event streams: reading new entries failed")
                await asyncio.sleep(1)

    async def _read_new(self) -> bool:
        """Deliver everything after the hub's position; whether entries wait behind an open
        transaction."""
        while True:
            events, pending = await self.run(_read_batch, self.position)
            if not events:
                return pending
            if self.listeners and any(event.object_type in RECHECK_TYPES for event in events):
                await self._recheck()
            self._dispatch(events)
            self.position = events[-1].position
            if len(events) < BATCH:
                return pending

    def _dispatch(self, events):
        listeners = [listener for listener in self.listeners if not listener.closed]
        if not listeners:
            return
        for event in events:
            for listener in listeners:
                if listener.scope.sees(event):
                    listener.put(event.position, event.frames[listener.format])

    async def _recheck(self):
        self._last_recheck = time.monotonic()
        listeners = list(self.listeners)
        if not listeners:
            return
        verdicts = await self.run(_recheck, [(listener.stream_id, listener.user_id, listener.session_id,
                                              listener.cookie_key) for listener in listeners])
        for listener, scope in zip(listeners, verdicts, strict=True):
            if scope is None:
                listener.close()
                self.listeners.discard(listener)
            else:
                listener.scope = scope


def _close_connection():
    with contextlib.suppress(Exception):  # a connection shared with the test's thread (in-memory SQLite)
        connection.close()


def _with_fresh_connection(function, args, kwargs):
    close_old_connections()  # a connection the database dropped, or past CONN_MAX_AGE
    return function(*args, **kwargs)


class Event:
    """An entry as the hub hands it out: made on the hub's thread (content types and wire
    names may need the database), so the event loop only filters and enqueues."""

    __slots__ = ("position", "object_type", "account_id", "content_type_id", "object_id", "frames")

    def __init__(self, entry):
        self.position = Position.of(entry)
        self.object_type = selectors.object_type(entry)
        self.account_id = entry.account_id
        self.content_type_id = entry.content_type_id
        self.object_id = entry.object_id
        self.frames = {format: selectors.sse_frame(entry, format) for format in EventStream.Format.values}


def _read_batch(position):
    entries = selectors.entries_after(position, limit=BATCH)
    last = Position.of(entries[-1]) if entries else position
    pending = len(entries) < BATCH and selectors.pending_beyond_horizon(last)
    selectors.Scope.warm()
    return [Event(entry) for entry in entries], pending


CATCH_UP_BATCH = 500


def catch_up(position, scope, format):
    """[(position, frame)] of the next entries after `position` that `scope` sees: what a
    client resuming with Last-Event-ID missed (on the hub's thread, like every read)."""
    return [(Position.of(entry), selectors.sse_frame(entry, format))
            for entry in selectors.entries_after(position, scope=scope, limit=CATCH_UP_BATCH)]


def _recheck(listeners):
    """For each (stream id, user id, session id, cookie key): the owner's current scope, or
    None when the listener must end (stream deleted, owner inactive, bearer session or cookie
    session ended). Four queries, and one more when cookies authorised some."""
    from accounts.models import Session, User
    from billing.events.models import EventStream

    streams = set(EventStream.objects.filter(pk__in={stream for stream, *_ in listeners})
                  .values_list("pk", flat=True))
    users = {user.pk: user for user in User.objects.filter(pk__in={user for _, user, *_ in listeners},
                                                             is_active=True)
             .only("pk", "is_superuser", "is_active", "password")}
    session_ids = {session for _, _, session, _ in listeners if session is not None}
    live_sessions = {session.pk for session in Session.objects.filter(pk__in=session_ids) if session.is_live}
    live_cookies = _live_cookie_sessions({(key, user) for _, user, _, key in listeners if key is not None}, users)
    accounts = selectors.audit_account_ids([pk for pk, user in users.items() if not user.is_superuser])
    verdicts = []
    for stream_id, user_id, session_id, cookie_key in listeners:
        user = users.get(user_id)
        if (stream_id not in streams or user is None or (session_id is not None and session_id not in live_sessions)
                or (cookie_key is not None and cookie_key not in live_cookies)):
            verdicts.append(None)
        elif user.is_superuser:
            verdicts.append(selectors.Scope(user_id, True, frozenset()))
        else:
            verdicts.append(selectors.Scope(user_id, False, frozenset(accounts.get(user_id, ()))))
    return verdicts


def _live_cookie_sessions(pairs, users) -> set[str]:
    """The cookie session keys among `pairs` ((key, user id)) that still sign that user in, as
    Django's own check on the next request would: the session exists, has not expired, names
    the user and carries the hash of their current password. One query with the database
    session engines; other engines load each session (they are cache reads)."""
    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
    from django.utils.crypto import constant_time_compare

    if not pairs:
        return set()
    engine = import_module(settings.SESSION_ENGINE)
    keys = {key for key, _ in pairs}
    if settings.SESSION_ENGINE in ("django.contrib.sessions.backends.db",
                                   "django.contrib.sessions.backends.cached_db"):
        from django.contrib.sessions.models import Session as CookieSession

        store = engine.SessionStore()
        data = {key: store.decode(text) for key, text in CookieSession.objects.filter(
            session_key__in=keys, expire_date__gt=timezone.now()).values_list("session_key", "session_data")}
    else:
        data = {key: engine.SessionStore(session_key=key).load() for key in keys}
    live = set()
    for key, user_id in pairs:
        session, user = data.get(key) or {}, users.get(user_id)
        if user is None or str(session.get(SESSION_KEY)) != str(user_id):
            continue
        if constant_time_compare(session.get(HASH_SESSION_KEY) or "", user.get_session_auth_hash()):
            live.add(key)
    return live


def _libpq_params():
    """The connection parameters of the default database, for the LISTEN connection."""
    params = connection.get_connection_params()
    keep = {"dbname", "user", "password", "host", "port", "sslmode", "sslrootcert", "sslcert", "sslkey",
            "connect_timeout", "options", "application_name", "target_session_attrs", "passfile", "service"}
    return {key: value for key, value in params.items() if key in keep and value not in (None, "")}


hub = Hub()


async def shutdown():
    """The ASGI lifespan's shutdown hook (config/asgi.py)."""
    await hub.stop()
