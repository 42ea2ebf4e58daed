"""Server-Sent Events from a real server: gunicorn started from the repository root (so
gunicorn.conf.py's ASGI app and uvicorn worker serve it), on a free loopback port, over the
test database (PostgreSQL under scripts/test_postgres.sh) or a SQLite file of its own.

An event written after the client connected reaches it; a client that reconnects with
`Last-Event-ID` gets what followed that event and nothing before; two servers on one
database deliver an event written through one to a listener on the other (LISTEN/NOTIFY on
PostgreSQL, polling on SQLite). Deadlines here only bound how long a failure takes to show.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from tests.aio import run

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
MEDIA = "application/vnd.api+json"
PASSWORD = "sse-Test-password-42"
DEADLINE = 30  # seconds before a missing event counts as a failure

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(tmp_path) -> str:
    """The test database (already migrated) on PostgreSQL; a fresh migrated file on SQLite."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    url = f"sqlite:///{tmp_path / 'sse.sqlite3'}"
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env=server_env(url))
    return url


def server_env(url) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update({
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DJANGO_SSE_KEEPALIVE_SECONDS": "1",
        "DJANGO_EVENTS_POLL_SECONDS": "0.1",
        "DJANGO_SUPERUSER_EMAIL": "sse-admin@example.org",
        "DJANGO_SUPERUSER_USERNAME": "sse-admin",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    })
    return env


class Server:
    def __init__(self, url, log_path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        # No application argument: gunicorn.conf.py in the working directory names it.
        self.process = subprocess.Popen([str(GUNICORN), "-b", f"127.0.0.1:{self.port}", "-w", "1",
                                         "--graceful-timeout", "5"], cwd=ROOT, env=server_env(url),
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/v1/version/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("the server did not start: " + Path(log_path).read_text()[-3000:])

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def servers(tmp_path):
    url = database_url(tmp_path)
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput"], cwd=ROOT, check=True,
                   env=server_env(url), capture_output=True)
    started = []

    def start():
        started.append(Server(url, tmp_path / f"server{len(started)}.log"))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def sign_in(server) -> dict:
    response = httpx.post(f"{server.base}/api/v1/sessions/", headers={"Content-Type": MEDIA}, json={
        "data": {"type": "Session", "attributes": {"email": "sse-admin@example.org", "password": PASSWORD}}})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['data']['attributes']['token']}"}


def create_stream(server, auth, format="json") -> dict:
    response = httpx.post(f"{server.base}/api/v1/event-streams/", headers={**auth, "Content-Type": MEDIA},
                          json={"data": {"type": "EventStream", "attributes": {"format": format}}})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def create_account(server, auth, name) -> str:
    response = httpx.post(f"{server.base}/api/v1/accounts/", headers={**auth, "Content-Type": MEDIA},
                          json={"data": {"type": "Account", "attributes": {"name": name}}})
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


class Client:
    """An SSE client reading events (and comments) off a live response."""

    def __init__(self, url, headers=None):
        self.http = httpx.Client(timeout=httpx.Timeout(DEADLINE, connect=10))
        self.context = self.http.stream("GET", url, headers=headers or {})
        self.response = self.context.__enter__()
        self.lines = self.response.iter_lines()
        self.comments = []

    def next_event(self) -> dict:
        event = {}
        for line in self.lines:
            if line == "":
                if event:
                    return event
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            event[name] = value[1:] if value.startswith(" ") else value
        raise AssertionError("the stream ended")

    def event_where(self, predicate) -> dict:
        while True:
            event = self.next_event()
            if predicate(event):
                return event

    def close(self):
        self.context.__exit__(None, None, None)
        self.http.close()


def is_account_create(name):
    return lambda event: event.get("event") == "account.create" and json.loads(event["data"])[
        "payload"]["objectRepr"] == name


def test_an_event_written_after_connecting_arrives_and_resumes_from_last_event_id(servers):
    server = servers()
    auth = sign_in(server)
    stream = create_stream(server, auth)
    url = f"{server.base}/api/v1/event-streams/{stream['id']}/sse/"

    client = Client(url, auth)
    assert client.response.status_code == 200
    assert client.response.headers["content-type"].startswith("text/event-stream")
    assert client.next_event() == {"retry": "3000"}
    create_account(server, auth, "First")
    first = client.event_where(is_account_create("First"))
    data = json.loads(first["data"])
    assert set(data) == {"id", "timestamp", "kind", "payload"} and data["kind"] == "account.create"
    create_account(server, auth, "Second")
    second = client.event_where(is_account_create("Second"))
    # keep-alive comments come while nothing happens (every second here)
    while not client.comments:
        line = next(client.lines)
        if line.startswith(":"):
            client.comments.append(line)
    assert ": keep-alive" in client.comments
    client.close()

    # Reconnecting after `first` (with the read token, as a browser's EventSource would):
    # everything after it, `second` included, and nothing up to it.
    resumed = Client(f"{url}?token={stream['attributes']['readToken']}", {"Last-Event-ID": first["id"]})
    assert resumed.next_event() == {"retry": "3000"}
    replayed = []
    while True:
        event = resumed.next_event()
        replayed.append(event)
        if event["id"] == second["id"]:
            break
    assert first["id"] not in [event["id"] for event in replayed]
    assert not any(is_account_create("First")(event) for event in replayed)
    resumed.close()

    # The cursor an SSE event carries is also a page cursor of /events/.
    page = httpx.get(f"{server.base}/api/v1/event-streams/{stream['id']}/events/",
                     params={"page[cursor]": first["id"]}, headers=auth).json()
    assert page["data"][0]["id"] == json.loads(replayed[0]["data"])["id"]


def test_refusals_are_jsonapi_errors(servers):
    server = servers()
    auth = sign_in(server)
    stream = create_stream(server, auth, format="text")
    url = f"{server.base}/api/v1/event-streams/{stream['id']}/sse/"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.json()["errors"][0]["code"] == "not_authenticated"
    wrong = httpx.get(url, params={"token": "not-the-token"})
    assert wrong.status_code == 404 and wrong.json()["errors"][0]["code"] == "not_found"
    bad_token = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401 and bad_token.json()["errors"][0]["code"] == "authentication_failed"
    unknown = httpx.get(url, params={"token": stream["attributes"]["readToken"], "x": "1"})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["source"] == {"parameter": "x"}
    bad_resume = httpx.get(url, headers={**auth, "Last-Event-ID": "garbage!"})
    assert bad_resume.status_code == 400
    assert httpx.get(f"{server.base}/api/v1/event-streams/999999/sse/", headers=auth).status_code == 404

    # a text stream's data is its one-line summary
    client = Client(url, auth)
    client.next_event()
    create_account(server, auth, "Texty")
    event = client.event_where(lambda event: event.get("event") == "account.create")
    assert event["data"].startswith("Account ") and "created" in event["data"]
    client.close()

    # deleting the stream ends its listeners
    client = Client(url, auth)
    client.next_event()
    assert httpx.delete(f"{server.base}/api/v1/event-streams/{stream['id']}/", headers=auth).status_code == 204
    with pytest.raises(AssertionError, match="the stream ended"):
        while True:
            client.next_event()
    client.close()


def test_two_servers_on_one_database_deliver_each_others_events(servers):
    writer, reader = servers(), servers()
    auth = sign_in(writer)
    stream = create_stream(writer, auth)
    client = Client(f"{reader.base}/api/v1/event-streams/{stream['id']}/sse/", auth)
    assert client.next_event() == {"retry": "3000"}
    create_account(writer, auth, "Across")
    event = client.event_where(is_account_create("Across"))
    assert json.loads(event["data"])["payload"]["objectType"] == "Account"
    client.close()


# --------------------------------------------------------------------------- in process, through the ASGI app


def test_in_process_a_client_gets_live_events_and_leaves_nothing_behind_when_it_goes():
    """Drive config.asgi's application directly: a write after connecting arrives, the
    request held no thread of its own, and a disconnect removes the listener."""
    import asyncio
    import threading

    from asgiref.sync import sync_to_async

    from billing.events.hub import hub
    from billing.events.services import event_stream_create
    from config.asgi import application
    from tests.factories import AccountFactory, UserFactory

    owner = UserFactory(is_superuser=True)
    stream, token = event_stream_create(actor=owner, user=owner)

    async def scenario():
        disconnect = asyncio.Event()
        sent = asyncio.Queue()

        async def receive():
            if not getattr(receive, "started", False):
                receive.started = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            await sent.put(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": f"/api/v1/event-streams/{stream.pk}/sse/", "raw_path": b"",
                 "query_string": f"token={token}".encode(), "root_path": "",
                 "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
        threads_before = threading.active_count()
        request = asyncio.create_task(application(scope, receive, send))
        start = await asyncio.wait_for(sent.get(), DEADLINE)
        assert start["type"] == "http.response.start" and start["status"] == 200, start
        first = await asyncio.wait_for(sent.get(), DEADLINE)
        assert first["body"].startswith(b"retry:")
        assert len(hub.listeners) == 1
        account = await sync_to_async(AccountFactory)(name="Live")
        body = b""
        while b"account.create" not in body:
            body += (await asyncio.wait_for(sent.get(), DEADLINE)).get("body", b"")
        assert f'"objectId":"{account.pk}"'.encode() in body
        # Streaming: no thread per request beyond the process's shared ones (the hub's own,
        # asgiref's one shared sync thread), which exist before a second client comes.
        assert threading.active_count() <= threads_before + 2
        disconnect.set()
        await asyncio.wait_for(request, DEADLINE)
        assert hub.listeners == set()
        await hub.stop()

    run(scenario())


def asgi_status(path, query="", headers=()):
    """The status the ASGI app answers (a stream is left at once, after its headers)."""
    import asyncio

    from billing.events.hub import hub
    from config.asgi import application

    async def scenario():
        started = asyncio.Event()
        sent = []

        requested = []

        async def receive():
            if not requested:
                requested.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await started.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            if message["type"] == "http.response.start":
                started.set()

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 5000),
                 "server": ("127.0.0.1", 80)}
        await asyncio.wait_for(application(scope, receive, send), DEADLINE)
        assert hub.listeners == set()  # whoever was let in is gone with the connection
        await hub.stop()
        return sent[0]["status"]

    return run(scenario())


def test_who_may_listen_through_the_asgi_app():
    from billing.events.services import event_stream_create
    from tests.factories import UserFactory
    from tests.jsonapi import token_for

    owner, other, site_admin = UserFactory(), UserFactory(), UserFactory(is_superuser=True)
    stream, read_token = event_stream_create(actor=owner, user=owner)
    path = f"/api/v1/event-streams/{stream.pk}/sse/"

    def bearer(user):
        return [(b"authorization", f"Bearer {token_for(user)}".encode())]

    assert asgi_status(path) == 401
    assert asgi_status(path, headers=[(b"authorization", b"Bearer wrong")]) == 401
    assert asgi_status(path, headers=bearer(owner)) == 200
    assert asgi_status(path, headers=bearer(site_admin)) == 200
    assert asgi_status(path, headers=bearer(other)) == 404
    assert asgi_status(path, f"token={read_token}") == 200
    assert asgi_status(path, "token=wrong") == 404
    assert asgi_status(f"/api/v1/event-streams/{stream.pk + 1}/sse/", f"token={read_token}") == 404
    assert asgi_status(path, f"token={read_token}", [(b"accept", b"application/vnd.api+json")]) == 406
    assert asgi_status(path, f"token={read_token}", [(b"last-event-id", b"not a cursor")]) == 400
    inactive = UserFactory()
    stream2, token2 = event_stream_create(actor=inactive, user=inactive)
    inactive.is_active = False
    inactive.save()
    assert asgi_status(f"/api/v1/event-streams/{stream2.pk}/sse/", f"token={token2}") == 404


def _cookie_listener_ends(sign_out):
    """A listener the portal's cookie authorised, connected to the ASGI app: `sign_out(client)`
    runs (in a thread, as another request would) and the stream must end by itself."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.test import Client

    from billing.events.hub import hub
    from billing.events.services import event_stream_create
    from config.asgi import application
    from tests.factories import UserFactory

    owner = UserFactory(password=PASSWORD)
    stream, _token = event_stream_create(actor=owner, user=owner)
    browser = Client()
    browser.force_login(owner)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def scenario():
        sent = asyncio.Queue()
        gone = asyncio.Event()

        async def receive():
            if not getattr(receive, "started", False):
                receive.started = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            await sent.put(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": f"/api/v1/event-streams/{stream.pk}/sse/", "raw_path": b"",
                 "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie)], "client": ("127.0.0.1", 5000),
                 "server": ("127.0.0.1", 80)}
        request = asyncio.create_task(application(scope, receive, send))
        start = await asyncio.wait_for(sent.get(), DEADLINE)
        assert start["status"] == 200, start
        assert (await asyncio.wait_for(sent.get(), DEADLINE))["body"].startswith(b"retry:")
        assert len(hub.listeners) == 1
        await sync_to_async(sign_out)(browser)
        # The hub re-checks on the signed-out browser's audit entry (or the password change's)
        # and closes the listener: the response ends without the client leaving.
        ends_by = time.monotonic() + DEADLINE  # keep-alives arrive meanwhile: a deadline for the whole wait
        while True:
            message = await asyncio.wait_for(sent.get(), max(0.01, ends_by - time.monotonic()))
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                break
        await asyncio.wait_for(request, DEADLINE)
        assert hub.listeners == set()
        gone.set()
        await hub.stop()

    run(scenario())


def test_a_cookie_listener_ends_when_its_browser_signs_out():
    _cookie_listener_ends(lambda browser: browser.post("/logout/"))


def test_a_cookie_listener_ends_when_the_browser_is_signed_out_from_elsewhere():
    def elsewhere(browser):
        from accounts.models import BrowserSession
        from accounts.services import browser_session_end

        session = BrowserSession.objects.get(session_key=browser.cookies["sessionid"].value)
        browser_session_end(actor=session.user, browser=session)

    _cookie_listener_ends(elsewhere)


def test_a_cookie_listener_ends_when_the_password_changes():
    def change_password(browser):
        from accounts.models import BrowserSession

        user = BrowserSession.objects.get(session_key=browser.cookies["sessionid"].value).user
        user.set_password("another-Password-43")
        user.save()

    _cookie_listener_ends(change_password)


def test_recheck_keeps_live_listeners_and_ends_the_others():
    """The hub's re-check, one verdict per listener: bearer token revoked, cookie session
    ended or outdated by a password change → None; otherwise the owner's scope."""
    from django.test import Client

    from accounts.models import BrowserSession
    from billing.events.hub import _recheck
    from billing.events.services import event_stream_create
    from tests.factories import UserFactory
    from tests.jsonapi import token_for

    owner = UserFactory(password=PASSWORD)
    stream, _token = event_stream_create(actor=owner, user=owner)
    kept, revoked = Client(), Client()
    kept.force_login(owner)
    revoked.force_login(owner)
    kept_key, revoked_key = (c.cookies["sessionid"].value for c in (kept, revoked))
    revoked.post("/logout/")
    token_for(owner)
    from accounts.models import Session

    bearer = Session.objects.filter(user=owner).latest("pk")
    listeners = [(stream.pk, owner.pk, None, kept_key), (stream.pk, owner.pk, None, revoked_key),
                 (stream.pk, owner.pk, bearer.pk, None), (stream.pk, owner.pk, None, "no-such-session-key")]
    verdicts = _recheck(listeners)
    assert [v is not None for v in verdicts] == [True, False, True, False]
    assert not BrowserSession.objects.filter(session_key=revoked_key).exists()
    bearer.delete()
    assert _recheck(listeners[2:3]) == [None]
    other = UserFactory()
    assert _recheck([(stream.pk, other.pk, None, kept_key)]) == [None]  # someone else's cookie
    owner.set_password("another-Password-43")
    owner.save()
    assert _recheck(listeners[:1]) == [None]
