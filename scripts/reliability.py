"""Reliability under load and faults (issue 17), against real servers on a real PostgreSQL.

    bash scripts/test_postgres.sh -- .venv/bin/python scripts/reliability.py faults [--short]
    bash scripts/test_postgres.sh -- .venv/bin/python scripts/reliability.py soak [--duration 600] [--redis]

(`make faults` and `make soak` run exactly that.) Everything talks to loopback only; the
servers are started from the repository root as `gunicorn` (its `gunicorn.conf.py` names
the application and the worker class) with production settings.

faults: mixed load (memberships and charges read, charges written) on one server; then
    PostgreSQL is stopped for --outage seconds (20) mid-load and started again; then a
    worker is killed with SIGKILL mid-load. Checked: during the outage every answer is a
    JSON:API 503 `service_unavailable`, none slower than 5 s and none a 500; the server
    answers 2xx again within 5 s of the database returning, by itself; the killed worker
    is replaced; no write is lost or half-applied (below).
soak: --duration seconds (600) of mixed load on two servers (two ports, one database),
    --threads client threads (4) alternating between them: memberships and charges read; charges
    written; in a utility with SEATS subscriber seats, memberships subscribed (201, or 409
    `seat_limit_reached` when the seats are taken), unsubscribed, subscribed again (200 or
    409) and removed by an account admin who is no site admin; that admin adding a member
    to the account, promoting them to admin, trying to demote them (403: demoting another
    admin is for site admins), the site admin demoting them, the admin removing them; the
    site admin trying to remove or demote the only admin of another account (409
    `last_admin`); sign-ins (a session made on one server, used on the other, logged out on
    the first, then refused on the other). Meanwhile LISTENERS SSE listeners (their owners
    site admins, or admins and consultants of the soak's account; json and text streams;
    bearer tokens and read tokens), half on each server, read raw `text/event-stream`; each
    hangs up once at a random moment, stays away AWAY seconds and resumes with
    `Last-Event-ID` on the other server. Checked: zero 5xx; every answer is one its step may
    give (a refusal exactly where one is due); resident memory per worker flat within 10%
    (its floor over each second of the last tenth against that of the second tenth: a
    sign-in's Argon2 hash takes 100 MiB for a moment; judged from 300 s); the membership, account-membership and
    session writes object by object: the audit entries of each object are exactly its
    acknowledged writes, in order, each naming its actor, no object was created but by an
    acknowledged write, and the database holds each as its last acknowledged write left it;
    between a fence written through A before the load and one written through B after it,
    each listener received every audit entry its owner may see (site admins: all of them),
    no duplicates, nothing it may not see (figures: events delivered, missing, duplicates,
    caught up after the forced reconnects, live delivery latency). Cross-server checks: a
    session made on one is valid on the other, logout on one ends it on both, revoking
    another session on A ends it on B at once, sign-in failures on both count towards one
    lockout, a throttle counts requests to both (with --redis: the same with the cache in a
    Redis server this script starts), an event written through A reaches the listeners on
    B and one written through B those on A. Races across the servers (before the load):
    eight requests at once for one object (logging one token out, revoking one session, keep-
    alives racing a logout, removing or adding one membership, removing both admins of an
    account, deleting a utility while charges are posted to it, deleting an account while
    utilities are created in it): one winner, the others the refusal due to a loser, never a
    5xx; removed once, audited once; nothing outlives its deleted parent. Invariants after:
    coin limits, subscriber seats
    (also sampled every second during the load), an admin in every account.
Both: every write acknowledged with a 2xx is in the database with its audit entry; every
refused one is absent; a write whose answer never came (a killed worker) is either absent
or present with its audit entry. Figures are printed; the exit status is 1 on any failure.
"""

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
MEDIA = "application/vnd.api+json"
STORAGE = "DATA_MANAGER_STORAGE_SUBSCRIPTION"
PASSWORD = "Reliability-check-" + secrets.token_hex(6)
SEATS = 2  # subscriber seats of the utility the soak subscribes to
LISTENERS = 20  # SSE listeners during the soak, half on each server
AWAY = 2.0  # seconds a listener stays away when it hangs up by itself
FAILURES = []


def fail(message):
    FAILURES.append(message)
    print(f"FAIL: {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- servers


# One Fernet key (32 random bytes, url-safe base64) for every server of a run, which share a
# database: production settings refuse to start without DJANGO_ASSET_KEYS.
ASSET_KEYS = os.environ.get("DJANGO_ASSET_KEYS") or base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def server_env(extra=None):
    env = dict(os.environ)
    env.update({
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("RELIABILITY_SECRET_KEY") or secrets.token_urlsafe(50),
        "DJANGO_ASSET_KEYS": ASSET_KEYS,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOGIN_FAILURE_LIMIT": "5",
    })
    env.update(extra or {})
    return env


class Server:
    def __init__(self, name, env, workers=2):
        self.name, self.env, self.workers = name, env, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        descriptor, self.log_path = tempfile.mkstemp(prefix=f"reliability-{name}-", suffix=".log")
        self.log = os.fdopen(descriptor, "w")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-b", f"127.0.0.1:{self.port}", "-w", str(self.workers),
             "--graceful-timeout", "5"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/api/v1/ping/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.3)
        raise SystemExit(f"{self.name}: the server did not start; see {self.log_path}")

    def worker_pids(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def rss_kib(self):
        sizes = {}
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes[pid] = int(line.split()[1])
            except FileNotFoundError:
                pass
        return sizes

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


class Postgres:
    """The cluster scripts/test_postgres.sh started (it exports where it lives)."""

    def __init__(self):
        missing = [name for name in ("ROSTER_PG_BIN", "ROSTER_PG_DATA", "ROSTER_PG_TMP") if not os.environ.get(name)]
        if missing or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            raise SystemExit("run me through scripts/test_postgres.sh (make faults / make soak): "
                             "I need the cluster it starts")
        self.bin, self.data = os.environ["ROSTER_PG_BIN"], os.environ["ROSTER_PG_DATA"]
        self.tmp, self.log = os.environ["ROSTER_PG_TMP"], os.environ["ROSTER_PG_LOG"]
        self.opts, self.user = os.environ["ROSTER_PG_OPTS"], os.environ.get("ROSTER_PG_USER", "")

    def _ctl(self, *args):
        command = [f"{self.bin}/pg_ctl", "-D", self.data, *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, cwd=self.tmp, check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        self._ctl("stop", "-m", "fast", "-w")

    def start(self):
        self._ctl("start", "-w", "-t", "60", "-l", self.log, "-o", self.opts)


# --------------------------------------------------------------------------- the API


@dataclass
class Outcome:
    kind: str  # read | charge | membership | accountmembership | session | check
    status: int | str  # HTTP status, or "error: ..." when no answer came
    started: float
    elapsed: float
    code: str | None = None
    marker: str | None = None
    resource_id: str | None = None
    # the writes checked object by object against the audit log (soak)
    action: str | None = None  # create | update | delete
    actor: str | None = None  # the user id the audit entry must name
    expected: tuple = ()  # the statuses this step may answer; another one is a failure
    detail: str | None = None  # what the step did, for messages

    @property
    def ok(self):
        return isinstance(self.status, int) and 200 <= self.status < 300


class Api:
    def __init__(self, base, token=None):
        self.base, self.http = base, requests.Session()
        self.http.headers.update({"Accept": MEDIA, "Content-Type": MEDIA})
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    #: a pooled connection idle this long is not reused: the server may be closing it at that
    #: moment (gunicorn's keep-alive, 2 s), which the client would see as a request never
    #: answered, though the server never read it
    IDLE = 1.0

    def call(self, method, path, document=None, timeout=15):
        now = time.monotonic()
        if now - getattr(self, "used", now) > self.IDLE:
            self.http.close()
        self.used = now
        response = self.http.request(method, self.base + path, timeout=timeout,
                                     data=json.dumps(document) if document is not None else None)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    def must(self, method, path, document=None, expect=(200, 201, 204)):
        status, body = self.call(method, path, document)
        if status not in expect:
            raise SystemExit(f"{method} {path}: {status} {json.dumps(body)[:500]}")
        return body


def sign_in(base, email, password=PASSWORD):
    status, body = Api(base).call("POST", "/api/v1/sessions/", {
        "data": {"type": "Session", "attributes": {"email": email, "password": password}}})
    return status, (body["data"]["attributes"]["token"] if status == 201 else None)


def create_superuser(email):
    env = server_env({"DJANGO_SUPERUSER_EMAIL": email, "DJANGO_SUPERUSER_USERNAME": email.split("@")[0],
                      "DJANGO_SUPERUSER_PASSWORD": PASSWORD})
    subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "createsuperuser", "--noinput"],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def prepare(base):
    """A site admin, an account with a utility and a storage product (a coin limit the load
    reaches), and members; returns what the load needs."""
    subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "--noinput", "-v0"],
                   cwd=ROOT, env=server_env(), check=True)
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
    create_superuser(admin_email)
    _status, token = sign_in(base, admin_email)
    api = Api(base, token)
    account = api.must("POST", "/api/v1/accounts/", {"data": {"type": "Account", "attributes": {
        "name": f"Reliability {uuid.uuid4().hex[:6]}"}}})["data"]["id"]
    utility = api.must("POST", "/api/v1/utilities/", {"data": {"type": "Utility", "attributes": {
        "name": "Load", "billingDay": 1}, "relationships": {"account": {"data": {"type": "Account", "id": account}}}}}
    )["data"]["id"]
    types = api.must("GET", "/api/v1/product-types/")["data"]
    storage = next(t["id"] for t in types if t["attributes"].get("code") == STORAGE)
    product = api.must("POST", "/api/v1/products/", {"data": {"type": "Product", "attributes": {
        "name": "Soak storage", "allowance": 300, "limit": 300}, "relationships": {
        "utility": {"data": {"type": "Utility", "id": utility}},
        "productType": {"data": {"type": "ProductType", "id": storage}}}}})["data"]["id"]
    members = []
    for n in range(4):
        email = f"member{n}-{uuid.uuid4().hex[:6]}@example.org"
        user = api.must("POST", "/api/v1/users/", {"data": {"type": "User", "attributes": {
            "email": email, "username": email.split("@")[0], "password": PASSWORD}}})["data"]["id"]
        api.must("POST", "/api/v1/memberships/", {"data": {"type": "Membership", "attributes": {
                 "role": "member", "isSubscriber": False},
                 "relationships": {"user": {"data": {"type": "User", "id": user}},
                                   "utility": {"data": {"type": "Utility", "id": utility}}}}})
        members.append(email)
    return {"admin_email": admin_email, "token": token, "account": account, "utility": utility,
            "product": product, "product_type": storage, "members": members,
            "admin_id": api.must("GET", "/api/v1/users/me/")["data"]["id"]}


def new_user(api, label):
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.org"
    user = api.must("POST", "/api/v1/users/", {"data": {"type": "User", "attributes": {
        "email": email, "username": email.split("@")[0], "password": PASSWORD}}})["data"]["id"]
    return email, user


def relate(**relations):
    return {name: {"data": {"type": kind, "id": str(pk)}} for name, (kind, pk) in relations.items()}


def add_account_member(api, account, user, role):
    return api.must("POST", "/api/v1/account-memberships/", {"data": {"type": "AccountMembership", "attributes": {
        "role": role}, "relationships": relate(user=("User", user), account=("Account", account))}})["data"]["id"]


def add_member(api, utility, user, role="spectator", subscriber=False):
    return api.must("POST", "/api/v1/memberships/", {"data": {"type": "Membership", "attributes": {
        "role": role, "isSubscriber": subscriber}, "relationships": relate(
        user=("User", user), utility=("Utility", utility))}})["data"]["id"]


def prepare_writes(base, world, threads):
    """What the soak's membership, account-membership and sign-in writes need: a utility with
    SEATS subscriber seats; an account admin who is no site admin (the actor of those writes);
    per load thread a user to subscribe, one to add to the account and one to sign in; an
    account whose only admin is the site admin (the last-admin refusals)."""
    api = Api(base, world["token"])
    account = world["account"]
    seats = api.must("POST", "/api/v1/utilities/", {"data": {"type": "Utility", "attributes": {
        "name": "Seats", "billingDay": 1, "subscriberSeats": SEATS},
        "relationships": relate(account=("Account", account))}})["data"]["id"]
    owner_email, owner = new_user(api, "owner")
    add_account_member(api, account, owner, "admin")
    add_member(api, world["utility"], owner)  # shares the utility with the users it adds
    subscribers, joiners, logins = [], [], []
    for n in range(threads):
        _email, user = new_user(api, f"subscriber{n}")
        add_account_member(api, account, user, "user")  # shares the account with the owner
        subscribers.append(user)
        _email, user = new_user(api, f"joiner{n}")
        add_member(api, world["utility"], user)  # shares the utility with the owner
        joiners.append(user)
        logins.append(new_user(api, f"login{n}"))
    solo = api.must("POST", "/api/v1/accounts/", {"data": {"type": "Account", "attributes": {
        "name": f"Solo {uuid.uuid4().hex[:6]}"}}})["data"]["id"]
    solo_admin = api.must("GET", f"/api/v1/account-memberships/?filter[account]={solo}")["data"][0]["id"]
    _status, owner_token = sign_in(base, owner_email)
    world.update({"seats_utility": seats, "owner": owner, "owner_token": owner_token, "subscribers": subscribers,
                  "joiners": joiners, "logins": logins, "solo": solo, "solo_admin": solo_admin})


# --------------------------------------------------------------------------- load


class Load:
    """Client threads sending a mix of requests until stopped; every answer (or the lack of
    one) is recorded.

    mix "basic" (faults): memberships and charges read, charges written.
    mix "full" (soak): the same, and per thread, alternating between the servers, a cycle of
    membership writes in the utility with SEATS subscriber seats (subscribe: 201 or 409
    `seat_limit_reached`; unsubscribe; subscribe again: 200 or 409; remove), a cycle of
    account-membership writes by an account admin who is no site admin (add; promote to
    admin; demote that admin: 403, only site admins demote another admin; the site admin
    demotes; remove; then the site admin tries to remove or demote the last admin of another
    account: 409 `last_admin`), and sign-ins (sign in on one server, use the token on the
    other, log out on the first, the token on the other: 401)."""

    BASIC = ("memberships", "charges", "charge")
    FULL = ("memberships", "charges", "charge", "seat", "memberships", "team", "charge", "login", "charges", "seat")

    def __init__(self, bases, world, threads=4, mix="basic"):
        self.bases, self.world, self.threads = bases, world, threads
        self.plan = self.FULL if mix == "full" else self.BASIC
        self.outcomes, self.lock, self.stop_event = [], threading.Lock(), threading.Event()
        self._threads = []

    def _record(self, outcome):
        with self.lock:
            self.outcomes.append(outcome)

    def _send(self, kind, api, method, path, document=None, **fields):
        """One request, recorded; (status, body)."""
        started = time.monotonic()
        try:
            status, body = api.call(method, path, document)
        except requests.RequestException as exc:
            status, body = f"error: {type(exc).__name__}", None
            fields["detail"] = f"{method} {path}: {exc}"[:300]
        code = (body or {}).get("errors", [{}])[0].get("code") if isinstance(body, dict) and "errors" in body else None
        if fields.get("resource_id") is None and isinstance(body, dict) and isinstance(body.get("data"), dict):
            fields["resource_id"] = body["data"].get("id")
        self._record(Outcome(kind, status, started, time.monotonic() - started, code, **fields))
        return status, body

    def _run(self, index):
        world = self.world
        apis = [{"admin": Api(base, world["token"]), "owner": Api(base, world.get("owner_token"))}
                for base in self.bases]
        state = {"seat": [0, None], "team": [0, None, 0]}
        n = index
        while not self.stop_event.is_set():
            here = apis[(index + n) % len(apis)]
            there = apis[(index + n + 1) % len(apis)]
            step = self.plan[n % len(self.plan)]
            if step == "memberships":
                self._send("read", here["admin"], "GET", "/api/v1/memberships/?page[size]=50")
            elif step == "charges":
                self._send("read", here["admin"], "GET",
                           f"/api/v1/charges/?filter[utility]={world['utility']}&page[size]=50")
            elif step == "charge":
                marker = f"rel-{uuid.uuid4().hex}"
                self._send("charge", here["admin"], "POST", "/api/v1/charges/", {"data": {
                    "type": "Charge", "attributes": {"kind": "processing", "amount": "1.0000", "description": marker},
                    "relationships": relate(product=("Product", world["product"]))}}, marker=marker)
            elif step == "seat":
                self._seat_step(index, here["owner"], state["seat"])
            elif step == "team":
                self._team_step(index, here, state["team"])
            elif step == "login":
                self._login(index, here["admin"].base, there["admin"].base)
            n += 1

    def _seat_step(self, index, api, state):
        world, owner = self.world, self.world["owner"]
        position, membership = state
        if position == 0:
            status, body = self._send("membership", api, "POST", "/api/v1/memberships/", {"data": {
                "type": "Membership", "attributes": {"role": "member", "isSubscriber": True},
                "relationships": relate(user=("User", world["subscribers"][index]),
                                        utility=("Utility", world["seats_utility"]))}},
                action="create", actor=owner, expected=(201, 409), detail="subscribe")
            if status == 201:
                state[:] = [1, body["data"]["id"]]
            return
        path = f"/api/v1/memberships/{membership}/"
        if position in (1, 2):
            subscribe = position == 2
            status, _ = self._send("membership", api, "PATCH", path, {"data": {
                "type": "Membership", "id": membership, "attributes": {"isSubscriber": subscribe}}},
                resource_id=membership, action="update", actor=owner,
                expected=(200, 409) if subscribe else (200,), detail=f"isSubscriber {subscribe}")
            if status in ((200, 409) if subscribe else (200,)):
                state[0] = position + 1
            return
        status, _ = self._send("membership", api, "DELETE", path, resource_id=membership, action="delete",
                               actor=owner, expected=(204,), detail="remove")
        if status == 204:
            state[:] = [0, None]

    def _team_step(self, index, apis, state):
        world = self.world
        owner, admin = world["owner"], world["admin_id"]
        position, membership, solo_turn = state
        path = f"/api/v1/account-memberships/{membership}/"

        def role(api, actor, value, expected):
            return self._send("accountmembership", api, "PATCH", path, {"data": {
                "type": "AccountMembership", "id": membership, "attributes": {"role": value}}},
                resource_id=membership, action="update", actor=actor, expected=expected, detail=f"role {value}")[0]

        if position == 0:
            status, body = self._send("accountmembership", apis["owner"], "POST", "/api/v1/account-memberships/", {
                "data": {"type": "AccountMembership", "attributes": {"role": "user"}, "relationships": relate(
                    user=("User", world["joiners"][index]), account=("Account", world["account"]))}},
                action="create", actor=owner, expected=(201,), detail="add")
            if status == 201:
                state[:2] = [1, body["data"]["id"]]
        elif position == 1:
            state[0] += role(apis["owner"], owner, "admin", (200,)) == 200
        elif position == 2:  # an account admin demoting another admin: refused
            state[0] += role(apis["owner"], owner, "user", (403,)) == 403
        elif position == 3:
            state[0] += role(apis["admin"], admin, "consultant", (200,)) == 200
        elif position == 4:
            status, _ = self._send("accountmembership", apis["owner"], "DELETE", path, resource_id=membership,
                                   action="delete", actor=owner, expected=(204,), detail="remove")
            state[0] += status == 204
        else:  # the last admin of an account stays, whoever asks
            solo = f"/api/v1/account-memberships/{world['solo_admin']}/"
            if solo_turn % 2:
                self._send("accountmembership", apis["admin"], "DELETE", solo, resource_id=world["solo_admin"],
                           action="delete", actor=admin, expected=(409,), detail="remove the last admin")
            else:
                self._send("accountmembership", apis["admin"], "PATCH", solo, {"data": {
                    "type": "AccountMembership", "id": world["solo_admin"], "attributes": {"role": "user"}}},
                    resource_id=world["solo_admin"], action="update", actor=admin, expected=(409,),
                    detail="demote the last admin")
            state[:] = [0, None, solo_turn + 1]

    def _login(self, index, here, there):
        email, user = self.world["logins"][index]
        status, body = self._send("session", Api(here), "POST", "/api/v1/sessions/", {"data": {
            "type": "Session", "attributes": {"email": email, "password": PASSWORD}}},
            action="create", actor=user, expected=(201,), detail="sign in")
        if status != 201:
            return
        token, session = body["data"]["attributes"]["token"], body["data"]["id"]
        self._send("check", Api(there, token), "GET", "/api/v1/users/me/", expected=(200,),
                   detail="the new token on the other server")
        self._send("session", Api(here, token), "DELETE", "/api/v1/sessions/current/", resource_id=session,
                   action="delete", actor=user, expected=(204,), detail="log out")
        self._send("check", Api(there, token), "GET", "/api/v1/users/me/", expected=(401,),
                   detail="the token on the other server after logging out")

    def start(self):
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def between(self, start, end):
        with self.lock:
            return [o for o in self.outcomes if start <= o.started < end]


def summarise(label, outcomes):
    statuses = Counter(str(o.status) for o in outcomes)
    slowest = max((o.elapsed for o in outcomes), default=0)
    print(f"  {label}: {len(outcomes)} requests, statuses {dict(sorted(statuses.items()))}, "
          f"slowest {slowest:.2f} s", flush=True)
    return statuses


# --------------------------------------------------------------------------- SSE listeners


def cursor_position(cursor):
    """(txid, audit entry id) from an SSE event id (billing.events.selectors.Position)."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    txid, pk = raw.split(".")
    return int(txid), int(pk)


class SseListener:
    """One client of one event stream, reading raw `text/event-stream` over its own socket
    (HTTP/1.1, chunked or not), as a browser's EventSource would: on a stream that ends it
    reconnects with `Last-Event-ID`. Once, at `reconnect_at`, it hangs up by itself and
    resumes on the other server."""

    def __init__(self, name, ports, server, stream, auth):
        self.name, self.ports, self.server, self.stream, self.auth = name, ports, server, stream, auth
        self.received = []  # (txid, id, wall-clock time of arrival)
        self.last_id = None
        self.forced = self.dropped = self.connections = self.subscribed = self.refused = 0
        self.reconnect_at = None
        self.away = []  # (hung up, reconnected) wall-clock times of the forced reconnects
        self.errors = []

    def request(self):
        path = f"/api/v1/event-streams/{self.stream}/sse/"
        headers = ["Host: 127.0.0.1", "Accept: text/event-stream"]
        if self.auth[0] == "bearer":
            headers.append(f"Authorization: Bearer {self.auth[1]}")
        else:
            path += f"?token={self.auth[1]}"
        if self.last_id:
            headers.append(f"Last-Event-ID: {self.last_id}")
        return (f"GET {path} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode()

    async def run(self, stop):
        import asyncio

        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.ports[self.server]), 10)
            except (TimeoutError, OSError) as exc:
                self.errors.append(f"connect: {exc!r}")
                await asyncio.sleep(1)
                continue
            self.connections += 1
            try:
                writer.write(self.request())
                await writer.drain()
                outcome = await self._read(reader, stop)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                outcome = "dropped"
                self.errors.append(f"read: {exc!r}")
            finally:
                writer.close()
            if outcome == "forced":
                self.forced += 1
                self.server = 1 - self.server  # resume on the other server
                left = time.time()
                await asyncio.sleep(AWAY)  # events written meanwhile come by catching up
                self.away.append((left, time.time()))
            elif outcome == "dropped" and not stop.is_set():
                self.dropped += 1
                await asyncio.sleep(0.5)

    async def _read(self, reader, stop):
        import asyncio

        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if status != 200 or not headers.get("content-type", "").startswith("text/event-stream"):
            self.errors.append(f"answer {status} {headers.get('content-type')}")
            self.refused += 1
            await asyncio.sleep(1)
            return "dropped"
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        text, event_id, data = "", None, False
        while True:
            if stop.is_set():
                return "stopped"
            if self.reconnect_at is not None and time.monotonic() >= self.reconnect_at:
                self.reconnect_at = None
                return "forced"
            try:
                if chunked:
                    size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), 1)).split(b";")[0], 16)
                    if size == 0:
                        return "dropped"
                    chunk = (await reader.readexactly(size + 2))[:-2]
                else:
                    chunk = await asyncio.wait_for(reader.read(65536), 1)
                    if not chunk:
                        return "dropped"
            except TimeoutError:
                continue  # (a chunk's size line is read whole or not at all: readuntil keeps it)
            arrived = time.time()
            text += chunk.decode()
            *complete, text = text.split("\n")
            for line in complete:
                line = line.rstrip("\r")
                if line == "":
                    if event_id is not None and data:
                        self.last_id = event_id
                        self.received.append((*cursor_position(event_id), arrived))
                    event_id, data = None, False
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "id":
                        event_id = value
                    elif name == "retry":
                        self.subscribed += 1  # the server's first frame: it listens for us now
                    elif name == "data":
                        data = True

    def has(self, position):
        return any((txid, pk) == position for txid, pk, _arrived in self.received)


class Listeners:
    """LISTENERS SSE listeners on one event loop in a thread of their own, half starting on
    each server; their owners are site admins (they see every event) and admins or
    consultants of the soak's account (they see its events and their own user's), one event
    stream each, json or text, authorised by the owner's bearer token or the stream's read
    token; each hangs up once at a random moment of the soak and resumes with Last-Event-ID
    on the other server."""

    def __init__(self, servers, streams):
        import asyncio

        self.ports = [int(server.url.rsplit(":", 1)[1]) for server in servers]
        self.listeners = [SseListener(f"listener {n}", self.ports, n % 2, stream, auth)
                          for n, (stream, auth, _owner) in enumerate(streams)]
        self.owners = [owner for _stream, _auth, owner in streams]
        self.loop = asyncio.new_event_loop()
        self.stop_event = asyncio.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self):
        import asyncio

        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.gather(*(listener.run(self.stop_event) for listener in self.listeners)))

    def start(self):
        self.thread.start()
        return self

    def schedule_reconnects(self, start, end):
        rng = secrets.SystemRandom()
        for listener in self.listeners:
            listener.reconnect_at = rng.uniform(start, end)

    def wait_subscribed(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(listener.subscribed for listener in self.listeners):
            time.sleep(0.05)
        late = [listener.name for listener in self.listeners if not listener.subscribed]
        if late:
            fail(f"SSE listeners not connected after {timeout} s: {late} "
                 f"({[listener.errors[:2] for listener in self.listeners if not listener.subscribed][:3]})")

    def wait_for(self, position, timeout=30):
        """When each listener received the entry at `position` (None: not within timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(listener.has(position) for listener in self.listeners):
            time.sleep(0.05)
        return [next((arrived for txid, pk, arrived in listener.received if (txid, pk) == position), None)
                for listener in self.listeners]

    def stop(self):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=15)


def prepare_listeners(base, world, count=LISTENERS):
    """The listeners' owners, their event streams and how each listener authenticates."""
    api = Api(base, world["token"])
    half = count // 2
    emails = [f"sse-admin{n}-{uuid.uuid4().hex[:6]}@example.org" for n in range(half)]
    create_superusers(emails)
    owners = []
    for email in emails:
        owners.append((email, "everything"))
    for n in range(count - half):
        email, user = new_user(api, f"sse-member{n}")
        add_account_member(api, world["account"], user, "admin" if n % 2 == 0 else "consultant")
        owners.append((email, "account"))
    streams = []
    for n, (email, scope) in enumerate(owners):
        _status, token = sign_in(base, email)
        mine = Api(base, token)
        stream = mine.must("POST", "/api/v1/event-streams/", {"data": {"type": "EventStream", "attributes": {
            "format": "text" if n % 4 == 3 else "json"}}})["data"]
        me = mine.must("GET", "/api/v1/users/me/")["data"]["id"]
        auth = ("bearer", token) if (n // 2) % 2 == 0 else ("token", stream["attributes"]["readToken"])
        streams.append((stream["id"], auth, (me, scope)))
    return streams


def create_superusers(emails):
    """Several site admins in one process (manage.py createsuperuser starts Django each time)."""
    code = ("import os\nfrom accounts.models import User\n"
            "for email in os.environ['RELIABILITY_EMAILS'].split():\n"
            "    User.objects.create_superuser(email=email, username=email.split('@')[0],"
            " password=os.environ['RELIABILITY_PASSWORD'])\n")
    subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c", code], cwd=ROOT, check=True,
                   env=server_env({"RELIABILITY_PASSWORD": PASSWORD, "RELIABILITY_EMAILS": " ".join(emails)}),
                   stdout=subprocess.DEVNULL)


def fence(base, world, label):
    """A charge written through `base` whose audit entry every listener must see: its position."""
    api = Api(base, world["token"])
    sent = time.time()
    charge = api.must("POST", "/api/v1/charges/", {"data": {"type": "Charge", "attributes": {
        "kind": "processing", "amount": "0.0001", "description": f"fence-{label}-{uuid.uuid4().hex[:8]}"},
        "relationships": relate(product=("Product", world["product"]))}})["data"]["id"]
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        row = db.execute(
            "SELECT e.txid::text, e.id FROM accounts_auditlogentry e JOIN django_content_type t "
            "ON t.id = e.content_type_id WHERE t.app_label = 'billing' AND t.model = 'charge' AND e.action = 0 "
            "AND e.object_id = %s", (int(charge),)).fetchone()
    return sent, (int(row[0]), row[1])


def verify_listeners(fleet, start, end):
    """Each listener got every entry its owner may see committed between the two fences,
    once, and nothing else; figures."""
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        user_type = db.execute("SELECT id FROM django_content_type WHERE app_label = 'accounts' AND model = 'user'"
                               ).fetchone()[0]
        rows = db.execute(
            "SELECT e.txid::text, e.id, e.account_id, e.content_type_id, e.object_id, e.timestamp "
            "FROM accounts_auditlogentry e WHERE (e.txid, e.id) > (%s::xid8, %s) AND (e.txid, e.id) <= (%s::xid8, %s)",
            (str(start[0]), start[1], str(end[0]), end[1])).fetchall()
        accounts = {}
        for (owner, _scope) in fleet.owners:
            accounts[owner] = {pk for (pk,) in db.execute(
                "SELECT account_id FROM memberships_accountmembership WHERE user_id = %s AND role IN "
                "('admin', 'consultant')", (int(owner),))}
    entries = {(int(txid), pk): (account, content_type, object_id, stamp.timestamp())
               for txid, pk, account, content_type, object_id, stamp in rows}
    totals = Counter()
    latencies = []
    for listener, (owner, scope) in zip(fleet.listeners, fleet.owners, strict=True):
        mine = {position for position, (account, content_type, object_id, _stamp) in entries.items()
                if scope == "everything" or account in accounts[owner]
                or (content_type == user_type and str(object_id) == str(owner))}
        got = Counter((txid, pk) for txid, pk, _arrived in listener.received if start < (txid, pk) <= end)
        missing, extra = mine - set(got), set(got) - mine
        duplicates = sum(count - 1 for count in got.values() if count > 1)
        totals.update(expected=len(mine), delivered=sum(got.values()), missing=len(missing), extra=len(extra),
                      duplicates=duplicates, forced=listener.forced, dropped=listener.dropped)
        # live deliveries (what was written while the listener was away waits for it by design)
        latencies += [arrived - entries[(txid, pk)][3] for txid, pk, arrived in listener.received
                      if (txid, pk) in mine and not any(left <= entries[(txid, pk)][3] <= back
                                                        for left, back in listener.away)]
        if missing or extra or duplicates:
            fail(f"{listener.name} ({scope}): {len(mine)} events due, {len(missing)} missing "
                 f"(e.g. {sorted(missing)[:3]}), {len(extra)} not due (e.g. {sorted(extra)[:3]}), "
                 f"{duplicates} duplicates")
        if listener.forced < 1:
            fail(f"{listener.name} never hung up and resumed with Last-Event-ID")
        if listener.refused:
            fail(f"{listener.name}: {listener.refused} connections refused: {listener.errors[:3]}")
        elif listener.errors:
            print(f"  {listener.name} (streams ended, then resumed): {listener.errors[:3]}", flush=True)
        caught_up = sum(1 for txid, pk, arrived in listener.received if (txid, pk) in mine and any(
            left <= entries[(txid, pk)][3] <= back <= arrived for left, back in listener.away))
        totals.update(caught_up=caught_up)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0
    print(f"  SSE: {len(fleet.listeners)} listeners ({sum(s == 'everything' for _o, s in fleet.owners)} site admins, "
          f"the others admins or consultants of the account), {len(entries)} audit entries in the window; "
          f"{totals['delivered']} events delivered of {totals['expected']} due, {totals['missing']} missing, "
          f"{totals['duplicates']} duplicates, {totals['extra']} not due; {totals['forced']} forced reconnects "
          f"({AWAY:.0f} s away, then Last-Event-ID on the other server; {totals['caught_up']} events written "
          f"while away caught up), {totals['dropped']} streams ended by the server; "
          f"live delivery latency (audit entry written to event read) p99 {p99 * 1000:.0f} ms, "
          f"max {(latencies[-1] if latencies else 0) * 1000:.0f} ms",
          flush=True)


# --------------------------------------------------------------------------- what the database says


def verify_writes(outcomes):
    """Acknowledged charges are there with their audit entry; refused ones are not; unanswered
    ones are all-or-nothing. Returns figures."""
    charges = [o for o in outcomes if o.kind == "charge"]
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        rows = dict(db.execute("SELECT description, id FROM billing_charge WHERE description LIKE 'rel-%%'").fetchall())
        audited = {int(pk) for (pk,) in db.execute(
            "SELECT e.object_pk FROM accounts_auditlogentry e JOIN django_content_type t ON t.id = e.content_type_id "
            "WHERE t.app_label = 'billing' AND t.model = 'charge' AND e.action = 0").fetchall()}
    acknowledged = refused = unknown = 0
    for o in charges:
        present = o.marker in rows
        if isinstance(o.status, int) and 200 <= o.status < 300:
            acknowledged += 1
            if not present:
                fail(f"charge {o.marker} was acknowledged ({o.status}) but is not in the database")
            elif rows[o.marker] not in audited:
                fail(f"charge {o.marker} is in the database without its audit entry")
        elif isinstance(o.status, int):
            refused += 1
            if present:
                fail(f"charge {o.marker} was refused ({o.status} {o.code}) but is in the database")
        else:
            unknown += 1
    half = [marker for marker, pk in rows.items() if pk not in audited]
    if half:
        fail(f"{len(half)} charges are in the database without their audit entry (half-applied)")
    print(f"  writes checked: {acknowledged} acknowledged, {refused} refused, {unknown} unanswered; "
          f"{len(rows)} charges in the database, each with its audit entry: {not half}", flush=True)


AUDITED = {  # kind → (content type, the changed field an update must name)
    "membership": ("memberships", "membership", "is_subscriber"),
    "accountmembership": ("accounts", "accountmembership", "role"),
    "session": ("accounts", "session", None),
}
ACTIONS = {"create": 0, "update": 1, "delete": 2}


def audit_high_water():
    """The newest audit entry's id: entries after it are the ones written later."""
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        return db.execute("SELECT COALESCE(MAX(id), 0) FROM accounts_auditlogentry").fetchone()[0]


def verify_object_writes(outcomes, world, since):
    """The soak's membership, account-membership and sign-in writes, object by object: the
    audit entries of each object written during the load are exactly its acknowledged writes,
    in order, each naming its actor (and an update naming the field it changed): so a refused
    write left no entry; no object was created but the acknowledged ones; each object is in
    the database as its last acknowledged write left it (or absent when that removed it).
    Every answer is one its step may give (a refusal where a refusal is due, and only then)."""
    unexpected = [o for o in outcomes if o.expected and o.status not in o.expected]
    for o in unexpected[:10]:
        fail(f"{o.kind} {o.detail} ({o.resource_id}): {o.status} {o.code}, expected one of {o.expected}")
    if len(unexpected) > 10:
        fail(f"... and {len(unexpected) - 10} more answers that their step may not give")
    checked = Counter()
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        for kind, (app, model, field) in AUDITED.items():
            writes = [o for o in outcomes if o.kind == kind]
            if not writes:
                continue
            entries = {}
            for object_id, action, actor, changes in db.execute(
                    "SELECT e.object_id, e.action, e.actor_id, e.changes FROM accounts_auditlogentry e "
                    "JOIN django_content_type t ON t.id = e.content_type_id "
                    "WHERE t.app_label = %s AND t.model = %s AND e.id > %s ORDER BY e.id", (app, model, since)):
                if isinstance(changes, str):
                    changes = json.loads(changes)
                entries.setdefault(str(object_id), []).append((action, str(actor) if actor else None, changes or {}))
            by_object = {}
            for o in writes:
                if o.resource_id is not None:
                    by_object.setdefault(str(o.resource_id), []).append(o)
            created = {str(o.resource_id) for o in writes if o.action == "create" and o.ok}
            for object_id in sorted(set(entries) - created - set(by_object), key=int):
                fail(f"{kind} {object_id} was created during the soak by no acknowledged write: "
                     f"{entries[object_id]}")
            for object_id, steps in by_object.items():
                acknowledged = [(ACTIONS[o.action], str(o.actor)) for o in steps if o.ok]
                found = [(action, actor) for action, actor, _changes in entries.get(object_id, [])]
                if found != acknowledged:
                    fail(f"{kind} {object_id}: audit entries {found} but acknowledged writes {acknowledged} "
                         f"({[(o.detail, o.status) for o in steps]})")
                for action, _actor, changes in entries.get(object_id, []):
                    if action == 1 and field and field not in changes:
                        fail(f"{kind} {object_id}: an update entry without {field}: {changes}")
                checked["acknowledged"] += len(acknowledged)
                checked["refused"] += sum(1 for o in steps if isinstance(o.status, int) and not o.ok)
            # refused creates carry no id: that no entry names an object nobody acknowledged
            # (above) is what shows them absent
            checked["refused"] += sum(1 for o in writes if o.resource_id is None and isinstance(o.status, int)
                                      and not o.ok)
            checked["unanswered"] += sum(1 for o in writes if not isinstance(o.status, int))
            checked[kind] += len(writes)
        # The database as the last acknowledged write of each object left it.
        seats = {str(pk): subscribed for pk, subscribed in db.execute(
            "SELECT id, is_subscriber FROM memberships_membership WHERE utility_id = %s", (world["seats_utility"],))}
        joined = {str(pk): role for pk, role in db.execute(
            "SELECT id, role FROM memberships_accountmembership WHERE account_id = %s AND user_id = ANY(%s)",
            (world["account"], [int(pk) for pk in world["joiners"]]))}
        sessions = {str(pk) for (pk,) in db.execute("SELECT id FROM accounts_session WHERE user_id = ANY(%s)",
                                                   ([int(pk) for _email, pk in world["logins"]],))}
        solo = db.execute("SELECT role FROM memberships_accountmembership WHERE id = %s", (world["solo_admin"],)
                          ).fetchone()
    expected_seats, expected_joined, expected_sessions = {}, {}, set()
    for o in outcomes:
        if not o.ok or o.resource_id is None:
            continue
        key = str(o.resource_id)
        if o.kind == "membership":
            if o.action == "delete":
                expected_seats.pop(key, None)
            else:
                expected_seats[key] = o.detail != "isSubscriber False"
        elif o.kind == "accountmembership" and key != str(world["solo_admin"]):
            if o.action == "delete":
                expected_joined.pop(key, None)
            else:
                expected_joined[key] = "user" if o.action == "create" else o.detail.split()[-1]
        elif o.kind == "session":
            (expected_sessions.discard if o.action == "delete" else expected_sessions.add)(key)
    if seats != expected_seats:
        fail(f"memberships of the seat-limited utility: {seats} in the database, {expected_seats} acknowledged")
    if joined != expected_joined:
        fail(f"account memberships of the soak's joiners: {joined} in the database, {expected_joined} acknowledged")
    if sessions != expected_sessions:
        fail(f"sessions of the soak's sign-ins: {sorted(sessions)} in the database, {sorted(expected_sessions)} "
             "acknowledged")
    if solo is None or solo[0] != "admin":
        fail(f"the last admin of an account was removed or demoted: {solo}")
    checks = [o for o in outcomes if o.kind == "check"]
    print(f"  object writes checked against the audit log and the database: {checked['membership']} membership, "
          f"{checked['accountmembership']} account-membership, {checked['session']} session writes; "
          f"{checked['acknowledged']} acknowledged, {checked['refused']} refused "
          f"({dict(Counter(f'{o.status} {o.code}' for o in outcomes if o.kind in AUDITED and o.expected and isinstance(o.status, int) and not o.ok))}), "  # noqa: E501
          f"{checked['unanswered']} unanswered; {len(checks)} tokens tried on the other server "
          f"({dict(Counter(str(o.status) for o in checks))})", flush=True)


def verify_invariants():
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        over_limit = db.execute("""
            SELECT p.id, c.billing_period_start, SUM(c.amount), p."limit" FROM billing_charge c
            JOIN billing_product p ON p.id = c.product_id
            GROUP BY p.id, c.billing_period_start, p."limit" HAVING SUM(c.amount) > p."limit"
        """).fetchall()
        no_admin = db.execute("""
            SELECT a.id FROM accounts_account a WHERE a.is_default = false AND NOT EXISTS (
                SELECT 1 FROM memberships_accountmembership m WHERE m.account_id = a.id AND m.role = 'admin')
        """).fetchall()
        over_seats = db.execute("""
            SELECT u.id, u.subscriber_seats, COUNT(m.id) FROM memberships_utility u
            JOIN memberships_membership m ON m.utility_id = u.id AND m.is_subscriber
            WHERE u.subscriber_seats IS NOT NULL
            GROUP BY u.id, u.subscriber_seats HAVING COUNT(m.id) > u.subscriber_seats
        """).fetchall()
        seated = db.execute("SELECT COUNT(*) FROM memberships_utility WHERE subscriber_seats IS NOT NULL").fetchone()[0]
    if over_limit:
        fail(f"coin limits exceeded: {over_limit}")
    if over_seats:
        fail(f"subscriber seats exceeded (utility, seats, subscribers): {over_seats}")
    if no_admin:
        fail(f"accounts without an admin: {no_admin}")
    print(f"  invariants: coin limits hold: {not over_limit}; subscriber seats hold ({seated} utilities with a "
          f"limit): {not over_seats}; every account has an admin: {not no_admin}", flush=True)


# --------------------------------------------------------------------------- faults


def faults(args):
    postgres = Postgres()
    server = Server("faults", server_env()).start()
    world = prepare(server.url)
    outage = 8 if args.short else args.outage
    steady = 5 if args.short else 10
    print(f"faults: server {server.url} ({len(server.worker_pids())} workers), outage {outage} s", flush=True)
    load = Load([server.url], world).start()
    time.sleep(steady)
    before = summarise("before the outage", load.between(0, time.monotonic()))
    if any(status.startswith("5") for status in before):
        fail("5xx before any fault")

    down_at = time.monotonic()
    postgres.stop()
    time.sleep(outage)
    up_at = time.monotonic()
    during = load.between(down_at + 0.5, up_at)  # requests begun once the stop had taken effect
    statuses = summarise("database stopped", during)
    for o in during:
        if o.status != 503 and not (isinstance(o.status, int) and o.status < 300):
            fail(f"during the outage: {o.status} {o.code} for a {o.kind}")
            break
    if any(o.status == 503 and o.code != "service_unavailable" for o in during):
        fail("a 503 during the outage without code service_unavailable")
    slow = [o for o in during if o.elapsed > 5]
    if slow:
        slowest = max(o.elapsed for o in slow)
        fail(f"{len(slow)} requests during the outage took more than 5 s (slowest {slowest:.1f} s)")
    if not statuses.get("503"):
        fail("no 503 during the outage: did the database stop?")

    postgres.start()
    back_at = time.monotonic()
    time.sleep(steady)
    after = load.between(back_at, time.monotonic())
    first_ok = min((o.started + o.elapsed for o in after if isinstance(o.status, int) and o.status < 300),
                   default=None)
    recovery = (first_ok - back_at) if first_ok else None
    summarise("database back", after)
    print(f"  recovery: first 2xx {recovery:.2f} s after the database accepted connections" if recovery is not None
          else "  recovery: none", flush=True)
    if recovery is None or recovery > 5:
        fail(f"the server did not recover within 5 s of the database returning ({recovery})")

    victims = server.worker_pids()
    killed_at = time.monotonic()
    os.kill(victims[0], signal.SIGKILL)
    time.sleep(steady)
    after_kill = load.between(killed_at, time.monotonic())
    summarise("a worker killed with SIGKILL", after_kill)
    if any(isinstance(o.status, int) and o.status >= 500 for o in after_kill):
        fail("5xx after a worker was killed")
    replaced = server.worker_pids()
    print(f"  workers: {victims} before, {replaced} after", flush=True)
    if len(replaced) != len(victims) or victims[0] in replaced:
        fail("the killed worker was not replaced")
    load.stop()
    server.stop()
    verify_writes(load.outcomes)
    verify_invariants()


# --------------------------------------------------------------------------- soak


def cross_server_checks(a, b, world):
    member = world["members"][0]
    status, token = sign_in(a.url, member)
    on_b = Api(b.url, token).call("GET", "/api/v1/users/me/")[0]
    Api(a.url, token).call("DELETE", "/api/v1/sessions/current/")
    after_logout = Api(b.url, token).call("GET", "/api/v1/users/me/")[0]
    print(f"  session from A on B: {on_b}; after logout on A, on B: {after_logout}", flush=True)
    if status != 201 or on_b != 200 or after_logout != 401:
        fail("a session is not shared, or logout does not reach the other server")

    victim = world["members"][1]
    failures = [sign_in(server.url, victim, "wrong")[0] for server in (a, b, a, b, a)]
    locked = [sign_in(server.url, victim)[0] for server in (a, b)]
    print(f"  failures on A and B: {failures}; then the right password on A, B: {locked}", flush=True)
    if locked != [429, 429]:
        fail("sign-in failures on two servers do not add up to one lockout")

    _status, token = sign_in(a.url, world["members"][2])
    throttled = []
    for n in range(6):
        server = (a, b)[n % 2]
        throttled.append(Api(server.url, token).call("POST", "/api/v1/contacts/", {"data": {
            "type": "Contact", "attributes": {"email": f"nobody{n}@example.org"}}})[0])
    print(f"  contact lookups alternating A/B under a 4/hour throttle: {throttled}", flush=True)
    if 429 not in throttled[4:] or 429 in throttled[:4]:
        fail("the throttle does not count requests to both servers together")



def race(calls):
    """Send the requests at once, one thread each, half to each server; their statuses."""
    barrier = threading.Barrier(len(calls))
    statuses = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            statuses[index] = call()
        except requests.RequestException as exc:
            statuses[index] = f"error: {type(exc).__name__}"

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def race_checks(a, b, world, n=8):
    """Requests racing for one object across both servers: each race has one winner, the
    others get the refusal the loser of that race is due (never a 5xx), and what was ended
    or removed is audited once. (Each once found a defect: a 500, a deadlock's 503, or two
    204s and two delete entries for one removal.)"""
    admin = [Api(server.url, world["token"]) for server in (a, b)]
    results = []

    def status(api, method, path, document=None):
        return api.call(method, path, document)[0]

    def check(label, statuses, winners, losers):
        counts = Counter(statuses)
        results.append(f"{label} {dict(counts)}")
        if counts.get(winners[0], 0) != winners[1] or set(counts) - {winners[0], *losers}:
            fail(f"race '{label}': {dict(counts)}; expected {winners[1]} x {winners[0]}, the others {losers}")

    email, user = new_user(admin[0], "racer")
    _status, keeper = sign_in(a.url, email)
    tokens = [sign_in(a.url, email) for _ in range(3)]
    token, victim = tokens[0][1], tokens[1][1]
    check("logout of one token on A and B", race([
        lambda i=i: status(Api((a, b)[i % 2].url, token), "DELETE", "/api/v1/sessions/current/") for i in range(n)]),
        (204, 1), {401})
    victim_id = Api(a.url, victim).must("GET", "/api/v1/sessions/current/")["data"]["id"]
    check("revoking one session from A and B", race([
        lambda i=i: status(Api((a, b)[i % 2].url, keeper), "DELETE", f"/api/v1/sessions/{victim_id}/")
        for i in range(n)]), (204, 1), {404})
    last = tokens[2][1]
    check("keep-alives racing a logout", race([
        lambda i=i: status(Api((a, b)[i % 2].url, last), "DELETE" if i == 0 else "PATCH", "/api/v1/sessions/current/")
        for i in range(n)]), (204, 1), {200, 401})

    account = admin[0].must("POST", "/api/v1/accounts/", {"data": {"type": "Account", "attributes": {
        "name": f"Race {uuid.uuid4().hex[:6]}"}}})["data"]["id"]
    utility = admin[0].must("POST", "/api/v1/utilities/", {"data": {"type": "Utility", "attributes": {
        "name": "Race", "billingDay": 1}, "relationships": relate(account=("Account", account))}})["data"]["id"]
    membership = add_member(admin[0], utility, user)
    check("removing one membership from A and B", race([
        lambda i=i: status(admin[i % 2], "DELETE", f"/api/v1/memberships/{membership}/") for i in range(n)]),
        (204, 1), {404})
    check("adding one membership from A and B", race([
        lambda i=i: status(admin[i % 2], "POST", "/api/v1/memberships/", {"data": {"type": "Membership",
            "attributes": {"isSubscriber": False}, "relationships": relate(
                user=("User", user), utility=("Utility", utility))}}) for i in range(n)]), (201, 1), {409})
    _email, second = new_user(admin[0], "racer2")
    second_admin = add_account_member(admin[0], account, second, "admin")
    first_admin = next(m["id"] for m in admin[0].must(
        "GET", f"/api/v1/account-memberships/?filter[account]={account}")["data"] if m["id"] != second_admin)
    check("removing both admins of an account at once", race([
        lambda: status(admin[0], "DELETE", f"/api/v1/account-memberships/{first_admin}/"),
        lambda: status(admin[1], "DELETE", f"/api/v1/account-memberships/{second_admin}/")]), (204, 1), {409})
    product_type = world["product_type"]
    product = admin[0].must("POST", "/api/v1/products/", {"data": {"type": "Product", "attributes": {
        "name": "Race", "allowance": 0, "limit": 0}, "relationships": relate(
        utility=("Utility", utility), productType=("ProductType", product_type))}})["data"]["id"]
    charge = {"data": {"type": "Charge", "attributes": {"kind": "processing", "amount": "1.0000"},
                       "relationships": relate(product=("Product", product))}}
    check("deleting a utility while charges are posted to it", race(
        [lambda: status(admin[0], "DELETE", f"/api/v1/utilities/{utility}/")]
        + [lambda i=i: status(admin[i % 2], "POST", "/api/v1/charges/", charge) for i in range(1, n)]),
        (204, 1), {201, 400, 404})
    check("deleting an account while utilities are created in it", race(
        [lambda: status(admin[0], "DELETE", f"/api/v1/accounts/{account}/")]
        + [lambda i=i: status(admin[i % 2], "POST", "/api/v1/utilities/", {"data": {"type": "Utility", "attributes": {
            "name": f"Late {i}", "billingDay": 1}, "relationships": relate(account=("Account", account))}})
           for i in range(1, n)]), (204, 1), {201, 400, 404})
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        left = db.execute("SELECT COUNT(*) FROM memberships_utility WHERE account_id = %s", (int(account),)
                          ).fetchone()[0]
        twice = db.execute(
            "SELECT t.model, e.object_id FROM accounts_auditlogentry e JOIN django_content_type t "
            "ON t.id = e.content_type_id WHERE e.action = 2 AND ((t.model = 'session' AND e.object_id = %s) "
            "OR (t.model = 'membership' AND e.object_id = %s)) GROUP BY t.model, e.object_id HAVING COUNT(*) > 1",
            (int(victim_id), int(membership))).fetchall()
    if left:
        fail(f"{left} utilities outlived their deleted account")
    if twice:
        fail(f"removed once, audited twice: {twice}")
    print(f"  races across A and B ({n} requests each): " + "; ".join(results), flush=True)


def revoke_check(a, b, world):
    """Revoking another of one's sessions on A ends it on B at once; the revoking one lives."""
    member = world["members"][3]
    _status, keeper = sign_in(a.url, member)
    status, body = Api(a.url).call("POST", "/api/v1/sessions/", {
        "data": {"type": "Session", "attributes": {"email": member, "password": PASSWORD}}})
    other, other_id = body["data"]["attributes"]["token"], body["data"]["id"]
    before = Api(b.url, other).call("GET", "/api/v1/users/me/")[0]
    revoked = Api(a.url, keeper).call("DELETE", f"/api/v1/sessions/{other_id}/")[0]
    after = Api(b.url, other).call("GET", "/api/v1/users/me/")[0]
    keeper_on_b = Api(b.url, keeper).call("GET", "/api/v1/users/me/")[0]
    print(f"  another session revoked on A ({revoked}): on B before {before}, after {after}; "
          f"the revoking session on B: {keeper_on_b}", flush=True)
    if (status, before, revoked, after, keeper_on_b) != (201, 200, 204, 401, 200):
        fail("revoking another session on one server does not end it on the other at once")


def soak(args):
    Postgres()  # only checks where we are
    redis = None
    extra = {"DJANGO_CONTACT_LOOKUP_THROTTLE": "4/hour"}
    if args.redis:
        redis = start_redis()
        extra["DJANGO_REDIS_URL"] = redis[1]
    secret = secrets.token_urlsafe(50)
    extra["DJANGO_SECRET_KEY"] = secret
    a = Server("soak-a", server_env(extra)).start()
    b = Server("soak-b", server_env(extra)).start()
    fleet = None
    threads = args.threads
    try:
        world = prepare(a.url)
        prepare_writes(a.url, world, threads)
        streams = prepare_listeners(a.url, world)
        print(f"soak: servers {a.url} and {b.url}, {args.duration} s, cache: "
              f"{'Redis' if redis else 'PostgreSQL'}", flush=True)
        cross_server_checks(a, b, world)
        revoke_check(a, b, world)
        race_checks(a, b, world)

        fleet = Listeners([a, b], streams).start()
        fleet.wait_subscribed()
        sent, start = fence(a.url, world, "start")
        arrivals = fleet.wait_for(start)
        on_b = [arrived for listener, arrived in zip(fleet.listeners, arrivals, strict=True) if listener.server == 1]
        print(f"  an event written through A reached {sum(x is not None for x in on_b)} of the {len(on_b)} "
              f"listeners on B (slowest {max((x or 0) - sent for x in on_b) * 1000:.0f} ms)", flush=True)
        if None in on_b:
            fail("an event written through A did not reach every listener on B")
        if None in arrivals:
            fail(f"the start fence did not reach {arrivals.count(None)} listeners")

        since = audit_high_water()
        load = Load([a.url, b.url], world, threads=threads, mix="full").start()
        started = time.monotonic()
        fleet.schedule_reconnects(started + args.duration * 0.1, started + args.duration * 0.9)
        samples, most_subscribed, seat_samples = [], 0, 0
        while time.monotonic() - started < args.duration:
            time.sleep(1)  # the seats and each worker's memory, every second
            most_subscribed = max(most_subscribed, subscribers(world["seats_utility"]))
            seat_samples += 1
            samples.append((time.monotonic() - started, {**a.rss_kib(), **b.rss_kib()}))
        load.stop()
        seconds = time.monotonic() - started
        sent, end = fence(b.url, world, "end")
        arrivals = fleet.wait_for(end)
        on_a = [arrived for listener, arrived in zip(fleet.listeners, arrivals, strict=True) if listener.server == 0]
        print(f"  an event written through B reached {sum(x is not None for x in on_a)} of the {len(on_a)} "
              f"listeners on A (slowest {max((x or 0) - sent for x in on_a) * 1000:.0f} ms)", flush=True)
        if None in arrivals:
            fail(f"the end fence did not reach {arrivals.count(None)} listeners")
        fleet.stop()

        statuses = summarise("soak", load.outcomes)
        print(f"  {len(load.outcomes) / seconds:.0f} requests/s over {seconds:.0f} s: "
              f"{dict(Counter(o.kind for o in load.outcomes))}", flush=True)
        if any(status.startswith("5") or status.startswith("error") for status in statuses):
            fail("5xx or unanswered requests during the soak: " + "; ".join(
                f"{o.kind} {o.status} {o.detail or ''}" for o in load.outcomes
                if str(o.status).startswith(("5", "error")))[:2000])
        judge_memory(samples, args.duration)
        verify_writes(load.outcomes)
        verify_object_writes(load.outcomes, world, since)
        verify_listeners(fleet, start, end)
        print(f"  subscribers of the utility with {SEATS} seats, sampled {seat_samples} times during the load: "
              f"at most {most_subscribed}", flush=True)
        if most_subscribed > SEATS:
            fail(f"{most_subscribed} subscribers of a utility with {SEATS} seats during the load")
        verify_invariants()
    finally:
        if fleet is not None:
            fleet.stop()
        a.stop()
        b.stop()
        if redis:
            redis[0].terminate()
            shutil.rmtree(redis[2], ignore_errors=True)


def judge_memory(samples, duration):
    """Each worker's resident memory after the warm-up (from a tenth to a fifth of the run)
    against the end (the last tenth), both as the lowest of the per-second samples in the
    window: a sign-in's Argon2 hash holds 100 MiB for a moment (Django's memory_cost, 102400
    KiB), so a single sample lands anywhere between a worker's floor and its floor plus that;
    the floor is what grows when memory leaks. Judged on a run long enough to tell growth
    from warm-up (the 10-minute soak); a short run prints the figures only."""
    judged = duration >= 300
    warm, end, peak = {}, {}, Counter()
    for at, sizes in samples:
        for pid, size in sizes.items():
            peak[pid] = max(peak[pid], size)
            if duration * 0.1 <= at <= duration * 0.2:
                warm[pid] = min(warm.get(pid, size), size)
            if at >= duration * 0.9:
                end[pid] = min(end.get(pid, size), size)
    for pid in sorted(set(warm) & set(end)):
        growth = (end[pid] - warm[pid]) / warm[pid]
        print(f"  worker {pid}: {warm[pid] / 1024:.1f} MiB after warm-up, {end[pid] / 1024:.1f} MiB at the end "
              f"({growth:+.1%}; peak {peak[pid] / 1024:.1f} MiB){'' if judged else ' (not judged: a short run)'}",
              flush=True)
        if judged and growth > 0.10:
            fail(f"worker {pid} grew {growth:.1%}")
    if judged and not set(warm) & set(end):
        fail("no worker's memory was sampled both after the warm-up and at the end")


def subscribers(utility):
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        return db.execute("SELECT COUNT(*) FROM memberships_membership WHERE utility_id = %s AND is_subscriber",
                          (utility,)).fetchone()[0]


def start_redis():
    binary = shutil.which("redis-server")
    if binary is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
        binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--redis needs redis-server (Debian package redis-server)")
    port = free_port()
    directory = tempfile.mkdtemp(prefix="roster-redis-")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--dir", directory], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0", directory


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["faults", "soak"])
    parser.add_argument("--short", action="store_true", help="the CI length (about a minute)")
    parser.add_argument("--outage", type=int, default=20)
    parser.add_argument("--duration", type=int, default=600)
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--threads", type=int, default=4, help="soak: client threads (each its own users)")
    args = parser.parse_args()
    if args.mode == "faults":
        faults(args)
    else:
        soak(args)
    if FAILURES:
        print(f"{len(FAILURES)} failures", flush=True)
        sys.exit(1)
    print("no failures", flush=True)


if __name__ == "__main__":
    main()
