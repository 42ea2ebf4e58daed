"""`make bench`: seed a large database, serve it with gunicorn on loopback, drive each hot
endpoint and its plain-Django ceiling back to back, and print the figures.

    .venv/bin/python -m bench.run [--users 10000 ...] [--duration 10] [--driver wrk|python]
                                  [--scaling] [--profile [REQUESTS]] [--explain] [--loop MINUTES]

After the table: each worker's resident memory and issue 16's targets against this run's
figures (met / NOT met); with --scaling, the hot list's req/s at 1 worker and at --workers;
with --profile, its CPU split (bench.profile); with --explain, the database's plan and time for
every statement of every GET endpoint (bench.explain: EXPLAIN ANALYZE on PostgreSQL); with
--loop, each worker's resident memory sampled over MINUTES of load and its growth.

Adding an endpoint is one line in ENDPOINTS. Figures are printed, never asserted.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MEDIA_TYPE = "application/vnd.api+json"


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    token: str  # "admin" or "member"
    ceiling: str | None = None
    body: dict | None = None
    bodies: list | None = None  # sent in turn (per driver thread) instead of `body`
    connections: int | None = None  # instead of --connections
    expect: tuple = ()  # statuses that are answers, not errors, and are counted (e.g. 201, 409)
    pool: bool = False  # each request a new (user, utility) pair of its side's Pool, for {user} {utility} in `body`


def _charge(amount):
    return {"data": {"type": "Charge", "attributes": {"kind": "processing", "amount": amount},
                     "relationships": {"product": {"data": {"type": "Product", "id": "{product}"}}}}}


# Two coin charges, then a one-coin credit (site admins only), against a product seeded 10 coins
# below its limit: once the room is used up, the mix is steady whatever the rate (two of three
# requests answered 201, one 409 coin_limit_exceeded) and the same for our API and the ceiling.
CHARGE_BODIES = [_charge("1.0000"), _charge("1.0000"), _charge("-1.0000")]


# An account admin adds someone to a utility of their account: every request a pair not yet a
# membership (Pool), so every POST is the same insert (201), on our side and the ceiling's.
MEMBERSHIP_POST_BODY = {"data": {"type": "Membership", "attributes": {"isSubscriber": False, "role": "member"},
                                 "relationships": {"user": {"data": {"type": "User", "id": "{user}"}},
                                                   "utility": {"data": {"type": "Utility", "id": "{utility}"}}}}}


# {account} is the account with the deepest history; {membership} one of the member's memberships;
# {busy} the utility with most of the charges; {product} its product near its limit; {audit_deep_page}
# and {memberships_deep_page} the deepest full pages (at most 10,000 and 1,000: issue 16's deep pages).
#: gunicorn's arguments per server kind: none for ASGI (gunicorn.conf.py names the app and
#: uvicorn's worker), the WSGI app with sync workers to compare against
SERVERS = {"asgi": [], "wsgi": ["config.wsgi", "-k", "sync"]}

# The ledger's pages sum ~900,000 charges (about 1 s each, on both sides): 16 connections
# queued ~10 s of work per worker, so a 10 s run counted only the few requests that
# happened to end inside it (0.0-1.6 req/s from run to run). Two connections keep each
# request's time near its own cost; where they land (one per worker, or both on one)
# still halves or doubles a figure, so read the ledger's ratios as coarse.
LEDGER_CONNECTIONS = 2

ENDPOINTS = [
    Endpoint("memberships, site admin", "GET", "/api/v1/memberships/?page_size=100", "admin",
             "/ceiling/memberships/?page_size=100"),
    Endpoint("memberships, member", "GET", "/api/v1/memberships/?page_size=100", "member",
             "/ceiling/memberships/?page_size=100"),
    Endpoint("memberships+include, site admin", "GET", "/api/v1/memberships/?page_size=100&include=user,utility",
             "admin", "/ceiling/memberships/?page_size=100&include=1"),
    Endpoint("memberships+include, member", "GET", "/api/v1/memberships/?page_size=100&include=user,utility",
             "member", "/ceiling/memberships/?page_size=100&include=1"),
    Endpoint("memberships deep page, site admin", "GET",
             "/api/v1/memberships/?page_size=100&page={memberships_deep_page}", "admin",
             "/ceiling/memberships/?page_size=100&page={memberships_deep_page}"),
    Endpoint("accounts, site admin", "GET", "/api/v1/accounts/?page_size=100", "admin",
             "/ceiling/accounts/?page_size=100"),
    Endpoint("audit log page 1", "GET", "/api/v1/accounts/{account}/auditlog/?page_size=100", "admin",
             "/ceiling/accounts/{account}/auditlog/?page_size=100"),
    Endpoint("audit log deep page", "GET",
             "/api/v1/accounts/{account}/auditlog/?page_size=100&page={audit_deep_page}", "admin",
             "/ceiling/accounts/{account}/auditlog/?page_size=100&page={audit_deep_page}"),
    # Subscribing and unsubscribing in turn: every PATCH changes the row (an UPDATE and an audit
    # entry), on our side and the ceiling's.
    Endpoint("membership PATCH", "PATCH", "/api/v1/memberships/{membership}/", "member",
             "/ceiling/memberships/{membership}/",
             bodies=[{"data": {"type": "Membership", "id": "{membership}", "attributes": {"isSubscriber": value}}}
                     for value in (True, False)]),
    Endpoint("membership POST", "POST", "/api/v1/memberships/", "account_admin", "/ceiling/memberships/post/",
             body=MEMBERSHIP_POST_BODY, pool=True, expect=(201,)),
    Endpoint("charges, site admin", "GET", "/api/v1/charges/?filter[utility]={busy}&page[size]=100", "admin",
             "/ceiling/charges/?utility={busy}&page_size=100", connections=LEDGER_CONNECTIONS),
    Endpoint("charges, account admin", "GET", "/api/v1/charges/?filter[utility]={busy}&page[size]=100",
             "account_admin", "/ceiling/charges/?utility={busy}&page_size=100",
             connections=LEDGER_CONNECTIONS),
    Endpoint("products, site admin", "GET", "/api/v1/products/?filter[utility]={busy}&page[size]=100", "admin",
             "/ceiling/products/?utility={busy}&page_size=100", connections=LEDGER_CONNECTIONS),
    Endpoint("products, account admin", "GET", "/api/v1/products/?filter[utility]={busy}&page[size]=100",
             "account_admin", "/ceiling/products/?utility={busy}&page_size=100",
             connections=LEDGER_CONNECTIONS),
    # The member is a leader of the busy utility: they see its products (not its charges: the
    # ledger is for the account's admins and consultants and the utility's admins).
    Endpoint("products, member", "GET", "/api/v1/products/?filter[utility]={busy}&page[size]=100", "member",
             "/ceiling/products/?utility={busy}&page_size=100", connections=LEDGER_CONNECTIONS),
    # A site admin's event stream (every audit entry): the first page and a page 100 events
    # before the end of the whole log (issue 14: flat from the first page to the last).
    Endpoint("events page 1, site admin", "GET", "/api/v1/event-streams/{stream}/events/?page[size]=100", "admin",
             "/ceiling/event-streams/{stream}/events/?page_size=100"),
    Endpoint("events deep cursor, site admin", "GET",
             "/api/v1/event-streams/{stream}/events/?page[size]=100&page[cursor]={deep_cursor}", "admin",
             "/ceiling/event-streams/{stream}/events/?page_size=100&cursor={deep_cursor}"),
    Endpoint("charge POST, sequential", "POST", "/api/v1/charges/", "admin", "/ceiling/charges/post/",
             bodies=CHARGE_BODIES, connections=1, expect=(201, 409)),
    Endpoint("charge POST, 16 concurrent", "POST", "/api/v1/charges/", "admin", "/ceiling/charges/post/",
             bodies=CHARGE_BODIES, connections=16, expect=(201, 409)),
]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args):
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def request(url, method="GET", token=None, body=None):
    headers = {"Accept": MEDIA_TYPE}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = MEDIA_TYPE
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class Pool:
    """(user, utility) pairs for membership POSTs, each taken once by whichever driver thread
    asks next: pair i is user i mod U in utility i div U (wrk's script computes the same)."""

    def __init__(self, users, utilities):
        self.users, self.utilities, self.next = users, utilities, 0
        self.lock = threading.Lock()

    def __len__(self):
        return len(self.users) * len(self.utilities)

    def pair(self, index):
        return self.users[index % len(self.users)], self.utilities[index // len(self.users) % len(self.utilities)]

    def take(self):
        with self.lock:
            index, self.next = self.next, self.next + 1
        return self.pair(index)

    def body(self, template):
        user, utility = self.take()
        return json.loads(json.dumps(template).replace("{user}", str(user)).replace("{utility}", str(utility)))


# --------------------------------------------------------------------------- drivers


# Each thread sends the bodies in turn and counts the statuses; `done` prints them.
WRK_BODIES = """
bodies = {%s}
sent, counts, threads = 0, {}, {}
function setup(thread) table.insert(threads, thread) end
function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[(sent - 1) %% #bodies + 1])
end
"""

# Thread t of n sends pairs start + t, start + t + n, ... of a Pool (the pair: Pool.pair).
WRK_POOL = """
users = {%(users)s}
utilities = {%(utilities)s}
template = %(template)s
start, nthreads = %(start)d, %(nthreads)d
sent, counts, threads, tid = 0, {}, {}, 0
function setup(thread) thread:set("tid", #threads) table.insert(threads, thread) end
function request()
  local i = start + sent * nthreads + tid
  sent = sent + 1
  local user = tostring(users[i %% #users + 1])
  local utility = tostring(utilities[math.floor(i / #users) %% #utilities + 1])
  local body = template:gsub("{user}", user):gsub("{utility}", utility)
  return wrk.format(nil, nil, nil, body)
end
"""

WRK_COUNT = """
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do io.write(string.format("STATUS %d %d\\n", status, n)) end
    io.write(string.format("SENT %d\\n", thread:get("sent")))
  end
end
"""


def run_wrk(url, method, token, body, duration, connections, threads, bodies=None, expect=(), pool=None):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 (wrk reads it by name)
    lines = [f'wrk.method = "{method}"', f'wrk.headers["Accept"] = "{MEDIA_TYPE}"',
             f'wrk.headers["Authorization"] = "Bearer {token}"']
    if body is not None or bodies:
        lines += [f'wrk.headers["Content-Type"] = "{MEDIA_TYPE}"']
    threads = min(threads, connections)
    if pool is not None:
        lines += [WRK_POOL % {"users": ", ".join(map(str, pool.users)),
                              "utilities": ", ".join(map(str, pool.utilities)),
                              "template": json.dumps(json.dumps(body)), "start": pool.next, "nthreads": threads},
                  WRK_COUNT]
    elif bodies:
        lines += [WRK_BODIES % ", ".join(json.dumps(json.dumps(b)) for b in bodies), WRK_COUNT]
    elif body is not None:
        lines += [f"wrk.body = {json.dumps(json.dumps(body))}"]
    script.write("\n".join(lines) + "\n")
    script.close()
    try:
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
                              "--timeout", "60s", "-s", script.name, url],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    if pool is not None:  # the pairs this run took are taken
        pool.next += threads * max((int(n) for n in re.findall(r"^SENT (\d+)$", out, re.M)), default=0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def percentile(p):
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    result = {"rps": rps, "p50": percentile(50), "p99": percentile(99), "errors": int(errors.group(1)) if errors else 0}
    if expect:
        statuses = {}
        for status, n in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M):
            statuses[int(status)] = statuses.get(int(status), 0) + int(n)
        timeouts = re.search(r"Socket errors:.*timeout (\d+)", out)
        result["statuses"] = statuses
        result["errors"] = sum(n for status, n in statuses.items() if status not in expect) + (
            int(timeouts.group(1)) if timeouts else 0)
    return result


def run_python(url, method, token, body, duration, connections, threads, bodies=None, expect=(), pool=None):
    """A plain-Python load generator, for machines without wrk (slower: it shares the CPU)."""
    latencies, errors, statuses = [], [0], {}
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker():
        sent = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, _, _ = request(url, method, token, pool.body(body) if pool is not None
                                   else bodies[sent % len(bodies)] if bodies else body)
            sent += 1
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 400 and status not in expect:
                    errors[0] += 1

    workers = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0  # noqa: E731
    result = {"rps": len(latencies) / duration, "p50": pick(0.5), "p99": pick(0.99), "errors": errors[0]}
    if expect:
        result["statuses"] = statuses
    return result


# --------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("accounts", 100), ("utilities", 1000), ("users", 10000), ("memberships", 100000),
                          ("audit", 1000000), ("charges", None)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--server", choices=sorted(SERVERS), default="asgi",
                        help="asgi: what production runs (gunicorn.conf.py: uvicorn workers); wsgi: gunicorn's "
                             "sync workers over config.wsgi, for comparison")
    parser.add_argument("--driver", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="an EMPTY database to fill (default: a temporary SQLite file)")
    parser.add_argument("--only", help="run only endpoints whose name contains this text (or one of these, "
                                       "comma-separated)")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the seeded SQLite database in DIR and reuse it on the next run with the same "
                             "DIR (the sizes are those of the run that seeded it)")
    parser.add_argument("--scaling", action="store_true",
                        help=f"also measure '{HOT_LIST}' at 1 worker and at --workers (the scaling curve)")
    parser.add_argument("--profile", type=int, nargs="?", const=200, default=0, metavar="REQUESTS",
                        help=f"also print the CPU split of '{HOT_LIST}' (framework / our code / database / JSON) "
                             "from cProfile over REQUESTS in-process requests (default 200)")
    parser.add_argument("--explain", action="store_true",
                        help="also print the plan and the database's time of every statement each GET endpoint "
                             "issues (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite)")
    parser.add_argument("--loop", type=float, default=0, metavar="MINUTES",
                        help="after the rest, drive the endpoints (all but membership POST) round-robin for "
                             "MINUTES, sampling each worker's resident memory every 30 s, and print its growth")
    args = parser.parse_args(argv)
    if args.charges is None:
        args.charges = args.audit  # 1,000,000 at full size, scaled down with the rest

    workdir = args.keep or tempfile.mkdtemp(prefix="roster-bench-")
    os.makedirs(workdir, exist_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DJANGO_DEBUG": "false",
           "DATABASE_URL": args.database_url or f"sqlite:///{os.path.abspath(workdir)}/bench.sqlite3"}
    seed_file = Path(workdir) / "seed.json"
    server = None
    try:
        manage(env, "migrate", "--noinput", "-v0")
        if args.keep and seed_file.exists():
            seeded = json.loads(seed_file.read_text())
            print(f"Reusing the database seeded in {workdir}: {seeded['sizes']}.", flush=True)
            manage(env, "bench_seed", "--analyze-only")  # new migrations may have added indexes
        else:
            print(f"Seeding {args.users} users, {args.memberships} memberships, {args.audit} audit entries, "
                  f"{args.charges} charges into {env['DATABASE_URL'].split('@')[-1]} ...", flush=True)
            seeded = json.loads(manage(env, "bench_seed", *[f"--{k}={getattr(args, k)}" for k in
                                                            ("accounts", "utilities", "users", "memberships",
                                                             "audit", "charges")]).strip().splitlines()[-1])
            print(f"Seeded in {seeded['seconds']} s.", flush=True)
            if args.keep:
                seed_file.write_text(json.dumps(seeded))
        selected = [e for e in ENDPOINTS if not args.only or any(part in e.name for part in args.only.split(","))]
        server, base = start_server(env, args.workers, SERVERS[args.server])
        driver = run_wrk if args.driver == "wrk" else run_python
        fill = {"account": seeded["account"], "membership": seeded["membership"],
                "busy": seeded["busy_utility"], "product": seeded["near_product"]}
        fill.update(_event_stream(base, seeded["tokens"]["admin"]))
        fill.update(_deep_pages(base, seeded["tokens"]["admin"], seeded["account"]))
        if any(e.pool for e in selected):
            fill["pools"] = _post_pools(env, seeded["account"], args.duration)
        rows = []
        for endpoint in selected:
            token = seeded["tokens"][endpoint.token]
            body = _fill(endpoint.body, fill) if endpoint.body else None
            bodies = [_fill(b, fill) for b in endpoint.bodies] if endpoint.bodies else None
            figures = {}
            for side, path in (("api", endpoint.path), ("ceiling", endpoint.ceiling)):
                if path is None:
                    continue
                url = base + path.format(**fill)
                pool = fill["pools"][side] if endpoint.pool else None
                if pool is not None:  # each request its own new pair, the warm-ups too
                    request(url, endpoint.method, token, pool.body(body))
                    status, headers, _ = request(url, endpoint.method, token, pool.body(body))
                    if status >= 400:
                        sys.exit(f"{endpoint.name} ({side}): {url} answered {status}")
                    settle(base)
                    result = driver(url, endpoint.method, token, body, args.duration,
                                    endpoint.connections or args.connections, 2, expect=endpoint.expect, pool=pool)
                    result["queries"] = headers.get("X-Query-Count", "?")
                    figures[side] = result
                    continue
                if bodies:  # the credit first, so that the charge that follows has room (a 201 to count)
                    request(url, endpoint.method, token, bodies[-1])
                    body = bodies[0]
                request(url, endpoint.method, token, body)  # warm up (a session may refresh on its first use)
                for attempt in range(5):
                    if bodies:
                        request(url, endpoint.method, token, bodies[-1])
                    status, headers, _ = request(url, endpoint.method, token, body)
                    # An expected refusal (a 409 coin_limit_exceeded): requests the server was still
                    # serving when the previous run's driver stopped took the room; they end soon.
                    if status < 400 or status not in endpoint.expect:
                        break
                    time.sleep(0.5 * (attempt + 1))
                if status >= 400:
                    sys.exit(f"{endpoint.name} ({side}): {url} answered {status}")
                settle(base)
                result = driver(url, endpoint.method, token, body, args.duration,
                                endpoint.connections or args.connections, 2, bodies=bodies, expect=endpoint.expect)
                result["queries"] = headers.get("X-Query-Count", "?")
                figures[side] = result
            rows.append((endpoint.name, figures))
        print_table(rows, args)
        memory = worker_memory(server)
        print("\nResident memory per worker after the run: "
              + (", ".join(f"pid {pid} {kib / 1024:.1f} MiB" for pid, kib in memory) or "unknown (no /proc)"))
        print_targets(rows, fill)
        if args.scaling:
            scaling_curve(env, args, seeded, driver, fill, server, base)
        if args.profile:
            profile_split(env, seeded, fill, args.profile)
        if args.explain:
            explain_plans(env, [e for e in selected if e.method == "GET"], seeded, fill)
        if args.loop:
            memory_loop(args, [e for e in selected if not e.pool], seeded, fill, driver, server, base)
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _event_stream(base, token):
    """The site admin's event stream (made on first use) and a cursor 100 events before the end."""
    status, _, content = request(f"{base}/api/v1/event-streams/", "POST", token, {"data": {"type": "EventStream"}})
    if status == 201:
        stream = json.loads(content)["data"]["id"]
    else:  # a kept database: made by an earlier run
        stream = json.loads(request(f"{base}/api/v1/event-streams/", "GET", token)[2])["data"][0]["id"]
    deep = json.loads(request(f"{base}/ceiling/event-streams/{stream}/deep-cursor/?back=100", "GET", token)[2])
    return {"stream": stream, "deep_cursor": deep["cursor"]}


#: issue 16's deep pages (100 rows a page): the audit log's page 10,000, the memberships' page 1,000
AUDIT_DEEP_PAGE, MEMBERSHIPS_DEEP_PAGE = 10_000, 1_000


def _deep_pages(base, token, account):
    """The deep pages to measure: issue 16's, or the deepest full page where the data has
    fewer rows (the busiest account has a fifth of the audit entries: 200,000 at full size,
    2,000 pages). Printed, with the row counts."""
    pages = {}
    for key, name, path, target in (
            ("audit_deep_page", f"audit log of account {account}", f"/ceiling/accounts/{account}/auditlog/",
             AUDIT_DEEP_PAGE),
            ("memberships_deep_page", "memberships (site admin)", "/ceiling/memberships/", MEMBERSHIPS_DEEP_PAGE)):
        rows = json.loads(request(f"{base}{path}?page_size=1", "GET", token)[2])["count"]
        pages[key] = max(1, min(target, rows // 100))
        short = (f"; issue 16's page {target:,} needs {target * 100:,}: the deepest full page instead"
                 if pages[key] < target else "")
        print(f"Deep page of the {name}: page {pages[key]:,}, 100 rows a page ({rows:,} rows{short}).", flush=True)
    return pages


def _post_pools(env, account, duration):
    """A Pool per side for the membership POSTs (`bench_seed --post-pool`), with room for
    1,000 req/s over the run; past that the pairs come round again (409s: counted as errors)."""
    made = json.loads(manage(env, "bench_seed", f"--post-pool={1000 * (duration + 1)}",
                             f"--account={account}").strip().splitlines()[-1])
    pools = {side: Pool(sides["users"], sides["utilities"]) for side, sides in made.items()}
    print(f"Membership POST: {len(pools['api'].users):,} people the account admin may add × "
          f"{len(pools['api'].utilities)} new utilities per side.", flush=True)
    return pools


def start_server(env, workers, server_args=()):
    """gunicorn on a free loopback port, answering; returns the process and its base URL.
    `server_args`: how gunicorn is told which app and worker (SERVERS); none: gunicorn.conf.py."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(PYTHON).parent / "gunicorn"), *server_args, "-b", f"127.0.0.1:{port}", "-w",
         str(workers), "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            if request(f"{base}/api/v1/ping/")[0] == 200:
                return server, base
        except OSError:
            pass
        time.sleep(0.2)
    os.killpg(server.pid, signal.SIGTERM)
    sys.exit("gunicorn did not start")


def settle(base, quiet=0.1, runs=6, limit=180.0):
    """Wait until the server has finished what the previous measurement left queued: when
    the driver stops, each of its connections may still have a request in flight, and a
    slow endpoint's 16 (about 1 s of database work each) keep both workers busy for seconds,
    which the next measurement would otherwise pay for. Idle: `runs` pings in a row (over
    new connections, so both workers are asked) answered within `quiet` seconds."""
    deadline = time.monotonic() + limit
    fast = 0
    while fast < runs and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            request(f"{base}/api/v1/ping/")
            fast = fast + 1 if time.monotonic() - started < quiet else 0
        except OSError:
            fast = 0
        if fast == 0:
            time.sleep(0.2)


def stop_server(server):
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def worker_memory(server) -> list[tuple[int, int]]:
    """(pid, resident set in KiB) of each worker the server process forked (Linux /proc)."""
    rows = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != server.pid:
                continue
            rss = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
        rows.append((int(entry.name), int(rss.split()[1])))
    return sorted(rows)


HOT_LIST = "memberships, member"


def scaling_curve(env, args, seeded, driver, fill, server, base):
    """req/s of the hot list at 1 worker and at `--workers` (the server running now)."""
    endpoint = next(e for e in ENDPOINTS if e.name == HOT_LIST)
    token = seeded["tokens"][endpoint.token]
    curve = []
    for workers in sorted({1, args.workers}):
        if workers == args.workers:
            current, url_base = server, base
        else:
            current, url_base = start_server(env, workers, SERVERS[args.server])
        try:
            url = url_base + endpoint.path.format(**fill)
            request(url, endpoint.method, token)
            settle(url_base)
            result = driver(url, endpoint.method, token, None, args.duration, args.connections, 2)
            curve.append((workers, result["rps"], result["p50"]))
        finally:
            if current is not server:
                stop_server(current)
    print(f"\nScaling of '{HOT_LIST}' ({endpoint.path}), {args.connections} connections, {args.duration} s each:")
    print(f"{'workers':>8} {'req/s':>8} {'p50 ms':>8} {'per worker':>11}")
    for workers, rps, p50 in curve:
        print(f"{workers:8d} {rps:8.1f} {p50:8.2f} {rps / workers:11.1f}")
    if len(curve) == 2 and curve[0][1]:
        print(f"speed-up {curve[1][1] / curve[0][1]:.2f}× from 1 to {curve[1][0]} workers")


def profile_split(env, seeded, fill, requests):
    """The hot list's CPU split (bench.profile), in a process of its own on the seeded database."""
    endpoint = next(e for e in ENDPOINTS if e.name == HOT_LIST)
    result = subprocess.run(
        [PYTHON, "-m", "bench.profile", "--path", endpoint.path.format(**fill), "--token",
         seeded["tokens"][endpoint.token], "--requests", str(requests), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        print(f"\nprofile failed:\n{result.stdout}\n{result.stderr}")
        return
    from bench.profile import print_split

    print_split(json.loads(result.stdout.strip().splitlines()[-1]), top=10)


def explain_plans(env, endpoints, seeded, fill):
    """Each GET endpoint's statements with their plans (bench.explain), in a process of its own."""
    command = [PYTHON, "-m", "bench.explain"]
    for endpoint in endpoints:
        command += ["--name", endpoint.name, "--path", endpoint.path.format(**fill),
                    "--token", seeded["tokens"][endpoint.token]]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print("\nQuery plans (bench.explain):" + (result.stdout if not result.returncode else
                                              f" failed\n{result.stdout}\n{result.stderr}"))


def memory_loop(args, endpoints, seeded, fill, driver, server, base):
    """`--loop MINUTES`: drive `endpoints` (our side) round-robin, --duration seconds each, for
    MINUTES, sampling each worker's resident set every 30 s; print the samples and each worker's
    growth from the first sample after the first fifth of the loop (past warm-up and caches
    filling) to the last. Flat within 10 %: met."""
    total = args.loop * 60
    samples, finished = [], threading.Event()
    started = time.monotonic()

    def sampler():
        while True:
            samples.append((time.monotonic() - started, dict(worker_memory(server))))
            if finished.wait(30):
                return

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    served, errors, turn = {}, {}, 0
    try:
        while (left := total - (time.monotonic() - started)) >= 1:
            endpoint = endpoints[turn % len(endpoints)]
            turn += 1
            seconds = int(min(args.duration, left))
            bodies = [_fill(b, fill) for b in endpoint.bodies] if endpoint.bodies else None
            result = driver(base + endpoint.path.format(**fill), endpoint.method, seeded["tokens"][endpoint.token],
                            _fill(endpoint.body, fill) if endpoint.body else None, seconds,
                            endpoint.connections or args.connections, 2, bodies=bodies, expect=endpoint.expect)
            served[endpoint.name] = served.get(endpoint.name, 0) + round(result["rps"] * seconds)
            errors[endpoint.name] = errors.get(endpoint.name, 0) + result["errors"]
    finally:
        finished.set()
        thread.join()
    elapsed = time.monotonic() - started
    if elapsed - samples[-1][0] > 5:
        samples.append((elapsed, dict(worker_memory(server))))
    pids = sorted({pid for _, rss in samples for pid in rss})
    print(f"\nMemory over a {args.loop:g}-minute loop: {len(endpoints)} endpoints round-robin, {args.duration} s "
          f"each, {sum(served.values()):,} requests, {sum(errors.values())} errors"
          + "".join(f"; {name}: {n} errors" for name, n in errors.items() if n) + ".")
    print(f"{'time s':>8} " + " ".join(f"{f'pid {pid} MiB':>14}" for pid in pids))
    for at, rss in samples:
        print(f"{at:8.0f} " + " ".join(f"{rss[pid] / 1024:14.1f}" if pid in rss else f"{'-':>14}" for pid in pids))
    first = next((sample for sample in samples if sample[0] >= total / 5), samples[-1])
    last = samples[-1]
    growth = {pid: (last[1][pid] - first[1][pid]) / first[1][pid] for pid in pids
              if pid in first[1] and pid in last[1] and first[1][pid]}
    if not growth:
        print("Growth: unknown (no worker sampled twice).")
        return
    flat = all(abs(g) <= 0.10 for g in growth.values()) and len(growth) == len(pids)
    print(f"Growth from {first[0]:.0f} s (after the first fifth) to {last[0]:.0f} s: "
          + ", ".join(f"pid {pid} {g * 100:+.1f} %" for pid, g in growth.items())
          + ("" if len(growth) == len(pids) else " (a worker was replaced)")
          + f" — flat within 10 %: {'met' if flat else 'NOT met'}.")


def _fill(document, fill):
    text = json.dumps(document)
    for key in ("membership", "product"):
        text = text.replace("{" + key + "}", str(fill[key]))
    return json.loads(text)


def print_table(rows, args):
    print(f"\nDriver {args.driver}, {args.connections} connections, {args.duration} s each, "
          f"gunicorn -w {args.workers} ({args.server}).")
    header = f"{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'SQL':>4} {'ceiling':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, figures in rows:
        api, ceiling = figures["api"], figures.get("ceiling")
        ratio = f"{api['rps'] / ceiling['rps']:.3f}" if ceiling and ceiling["rps"] else "-"
        flag = "  (errors!)" if api["errors"] or (ceiling or {}).get("errors") else ""
        print(f"{name:34} {api['rps']:8.1f} {api['p50']:8.2f} {api['p99']:8.2f} {api['queries']:>4} "
              f"{(ceiling or {}).get('rps', 0):8.1f} {ratio:>6}{flag}")
        for side, result in (("api", api), ("ceiling", ceiling or {})):
            if "statuses" in result:
                counts = ", ".join(f"{n} × {status}" for status, n in sorted(result["statuses"].items()))
                print(f"    {side}: {counts}")


WRITES = ("membership PATCH", "membership POST", "charge POST, sequential", "charge POST, 16 concurrent")
#: (an ordinary caller's endpoint, the site admin's, what is compared)
CALLER_PAIRS = [
    ("memberships, member", "memberships, site admin", "memberships"),
    ("memberships+include, member", "memberships+include, site admin", "memberships+include"),
    ("charges, account admin", "charges, site admin", "charges (account admin)"),
    ("products, member", "products, site admin", "products"),
]
#: (page 1, the deep page, what is compared)
DEEP_PAIRS = [
    ("audit log page 1", "audit log deep page", "audit log page {audit_deep_page:,}"),
    ("memberships, site admin", "memberships deep page, site admin", "memberships page {memberships_deep_page:,}"),
]


def print_targets(rows, fill):
    """Issue 16's targets next to this run's figures. Printed, never asserted."""
    by_name = dict(rows)

    def verdict(ok, errors=0):
        return ("met" if ok else "NOT met") + ("  (errors!)" if errors else "")

    def rps(name):
        return by_name[name]["api"]["rps"] if name in by_name else None

    print("\nTargets (issue 16), this run:")
    print("  ours / ceiling req/s >= 0.5 (writes >= 0.6):")
    for name, figures in rows:
        api, ceiling = figures["api"], figures.get("ceiling")
        floor = 0.6 if name in WRITES else 0.5
        ratio = api["rps"] / ceiling["rps"] if ceiling and ceiling["rps"] else 0.0
        print(f"    {name:40} {ratio:6.3f}  {verdict(ratio >= floor, api['errors'] or (ceiling or {}).get('errors'))}")
    print("  an ordinary member's list within 20 % of the site admin's (their req/s / the site admin's >= 0.8;\n"
          "  the ledger's ordinary caller is the account admin: members do not see charges):")
    for caller, admin, label in CALLER_PAIRS:
        if rps(caller) is None or not rps(admin):
            print(f"    {label:40}  not measured")
            continue
        ratio = rps(caller) / rps(admin)
        print(f"    {label:40} {ratio:6.3f}  {verdict(ratio >= 0.8)}")
    print("  deep pages within 1.25× of page 1 (page 1's req/s / the deep page's, ours, <= 1.25):")
    for first, deep, label in DEEP_PAIRS:
        label = label.format(**fill)
        if rps(first) is None or not rps(deep):
            print(f"    {label:40}  not measured")
            continue
        ratio = rps(first) / rps(deep)
        print(f"    {label:40} {ratio:6.3f}  {verdict(ratio <= 1.25)}")
    if "membership PATCH" in by_name:
        queries = by_name["membership PATCH"]["api"]["queries"]
        print(f"  membership PATCH statements: {queries} as served (issue: <= 6, pinned in "
              "tests/memberships/test_memberships.py)")
    print("  memory per worker: printed above; growth over a run: --loop MINUTES (issue: 10); "
          "scaling: --scaling; CPU split: --profile")


if __name__ == "__main__":
    main()
