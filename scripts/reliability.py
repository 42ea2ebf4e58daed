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
soak: --duration seconds (600) of mixed load on two servers (two ports, one database):
    zero 5xx; resident memory per worker flat within 10% (after a warm-up fifth); and the
    cross-server checks: a session made on one is valid on the other, logout on one ends
    it on both, sign-in failures on both count towards one lockout, a throttle counts
    requests to both (with --redis: the same with the cache in a Redis server this script
    starts). Invariants after: coin limits, seat limits, an admin in every account.
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
    kind: str  # read | charge
    status: int | str  # HTTP status, or "error: ..." when no answer came
    started: float
    elapsed: float
    code: str | None = None
    marker: str | None = None
    resource_id: str | None = None


class Api:
    def __init__(self, base, token=None):
        self.base, self.http = base, requests.Session()
        self.http.headers.update({"Accept": MEDIA, "Content-Type": MEDIA})
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method, path, document=None, timeout=15):
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
            "product": product, "members": members}


# --------------------------------------------------------------------------- load


class Load:
    """Client threads sending a mix of reads and charge writes until stopped; every answer
    (or the lack of one) is recorded."""

    def __init__(self, bases, world, threads=4):
        self.bases, self.world, self.threads = bases, world, threads
        self.outcomes, self.lock, self.stop_event = [], threading.Lock(), threading.Event()
        self._threads = []

    def _one(self, api, n):
        started = time.monotonic()
        marker = None
        try:
            if n % 3 == 2:
                kind, marker = "charge", f"rel-{uuid.uuid4().hex}"
                status, body = api.call("POST", "/api/v1/charges/", {"data": {"type": "Charge", "attributes": {
                    "kind": "processing", "amount": "1.0000", "description": marker},
                    "relationships": {"product": {"data": {"type": "Product", "id": self.world["product"]}}}}})
            else:
                kind = "read"
                path = ("/api/v1/memberships/?page[size]=50" if n % 3 == 0
                        else f"/api/v1/charges/?filter[utility]={self.world['utility']}&page[size]=50")
                status, body = api.call("GET", path)
        except requests.RequestException as exc:
            status, body = f"error: {type(exc).__name__}", None
        code = (body or {}).get("errors", [{}])[0].get("code") if isinstance(body, dict) and "errors" in body else None
        resource = (body or {}).get("data", {}).get("id") if isinstance(body, dict) and isinstance(
            (body or {}).get("data"), dict) else None
        outcome = Outcome(kind, status, started, time.monotonic() - started, code, marker, resource)
        with self.lock:
            self.outcomes.append(outcome)

    def _run(self, index):
        api = Api(self.bases[index % len(self.bases)], self.world["token"])
        n = index
        while not self.stop_event.is_set():
            self._one(api, n)
            n += 1

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
    if over_limit:
        fail(f"coin limits exceeded: {over_limit}")
    if no_admin:
        fail(f"accounts without an admin: {no_admin}")
    print(f"  invariants: coin limits hold: {not over_limit}; every account has an admin: {not no_admin}",
          flush=True)


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
    try:
        world = prepare(a.url)
        print(f"soak: servers {a.url} and {b.url}, {args.duration} s, cache: "
              f"{'Redis' if redis else 'PostgreSQL'}", flush=True)
        cross_server_checks(a, b, world)
        load = Load([a.url, b.url], world, threads=4).start()
        started = time.monotonic()
        samples = []
        while time.monotonic() - started < args.duration:
            time.sleep(min(30, args.duration / 10))
            samples.append((time.monotonic() - started, {**a.rss_kib(), **b.rss_kib()}))
        load.stop()
        statuses = summarise("soak", load.outcomes)
        seconds = time.monotonic() - started
        print(f"  {len(load.outcomes) / seconds:.0f} requests/s over {seconds:.0f} s", flush=True)
        if any(status.startswith("5") or status.startswith("error") for status in statuses):
            fail("5xx or unanswered requests during the soak")
        warm = samples[max(1, len(samples) // 5) - 1][1]
        last = samples[-1][1]
        # Memory is judged on a run long enough to tell growth from warm-up (the 10-minute
        # soak); a short run prints the figures only.
        judged = args.duration >= 300
        for pid in sorted(set(warm) & set(last)):
            growth = (last[pid] - warm[pid]) / warm[pid]
            print(f"  worker {pid}: {warm[pid] / 1024:.1f} MiB after warm-up, {last[pid] / 1024:.1f} MiB at the end "
                  f"({growth:+.1%}){'' if judged else ' (not judged: a short run)'}", flush=True)
            if judged and growth > 0.10:
                fail(f"worker {pid} grew {growth:.1%}")
        verify_writes(load.outcomes)
        verify_invariants()
    finally:
        a.stop()
        b.stop()
        if redis:
            redis[0].terminate()
            shutil.rmtree(redis[2], ignore_errors=True)


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
