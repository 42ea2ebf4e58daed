"""`make bench`: seed a large database, serve it with gunicorn on loopback, drive each hot
endpoint and its plain-Django ceiling back to back, and print the figures.

    .venv/bin/python -m bench.run [--users 10000 ...] [--duration 10] [--driver wrk|python]
                                  [--scaling] [--profile [REQUESTS]]

After the table: each worker's resident memory; with --scaling, the hot list's req/s at 1
worker and at --workers; with --profile, its CPU split (bench.profile).

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


def _charge(amount):
    return {"data": {"type": "Charge", "attributes": {"kind": "processing", "amount": amount},
                     "relationships": {"product": {"data": {"type": "Product", "id": "{product}"}}}}}


# Two coin charges, then a one-coin credit (site admins only), against a product seeded 10 coins
# below its limit: once the room is used up, the mix is steady whatever the rate (two of three
# requests answered 201, one 409 coin_limit_exceeded) and the same for our API and the ceiling.
CHARGE_BODIES = [_charge("1.0000"), _charge("1.0000"), _charge("-1.0000")]


# {account} is the account with the deepest history; {membership} one of the member's memberships;
# {busy} the utility with most of the charges; {product} its product near its limit.
#: gunicorn's arguments per server kind: none for ASGI (gunicorn.conf.py names the app and
#: uvicorn's worker), the WSGI app with sync workers to compare against
SERVERS = {"asgi": [], "wsgi": ["config.wsgi", "-k", "sync"]}

ENDPOINTS = [
    Endpoint("memberships, site admin", "GET", "/api/v1/memberships/?page_size=100", "admin",
             "/ceiling/memberships/?page_size=100"),
    Endpoint("memberships, member", "GET", "/api/v1/memberships/?page_size=100", "member",
             "/ceiling/memberships/?page_size=100"),
    Endpoint("memberships+include, site admin", "GET", "/api/v1/memberships/?page_size=100&include=user,utility",
             "admin", "/ceiling/memberships/?page_size=100&include=1"),
    Endpoint("memberships+include, member", "GET", "/api/v1/memberships/?page_size=100&include=user,utility",
             "member", "/ceiling/memberships/?page_size=100&include=1"),
    Endpoint("accounts, site admin", "GET", "/api/v1/accounts/?page_size=100", "admin",
             "/ceiling/accounts/?page_size=100"),
    Endpoint("audit log page 1", "GET", "/api/v1/accounts/{account}/auditlog/?page_size=100", "admin",
             "/ceiling/accounts/{account}/auditlog/?page_size=100"),
    Endpoint("audit log deep page", "GET", "/api/v1/accounts/{account}/auditlog/?page_size=100&page={deep_page}",
             "admin", "/ceiling/accounts/{account}/auditlog/?page_size=100&page={deep_page}"),
    # Subscribing and unsubscribing in turn: every PATCH changes the row (an UPDATE and an audit
    # entry), on our side and the ceiling's.
    Endpoint("membership PATCH", "PATCH", "/api/v1/memberships/{membership}/", "member",
             "/ceiling/memberships/{membership}/",
             bodies=[{"data": {"type": "Membership", "id": "{membership}", "attributes": {"isSubscriber": value}}}
                     for value in (True, False)]),
    Endpoint("charges, site admin", "GET", "/api/v1/charges/?filter[utility]={busy}&page[size]=100", "admin",
             "/ceiling/charges/?utility={busy}&page_size=100"),
    Endpoint("charges, account admin", "GET", "/api/v1/charges/?filter[utility]={busy}&page[size]=100",
             "account_admin", "/ceiling/charges/?utility={busy}&page_size=100"),
    Endpoint("products, site admin", "GET", "/api/v1/products/?filter[utility]={busy}&page[size]=100", "admin",
             "/ceiling/products/?utility={busy}&page_size=100"),
    Endpoint("products, account admin", "GET", "/api/v1/products/?filter[utility]={busy}&page[size]=100",
             "account_admin", "/ceiling/products/?utility={busy}&page_size=100"),
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
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do io.write(string.format("STATUS %%d %%d\\n", status, n)) end
  end
end
"""


def run_wrk(url, method, token, body, duration, connections, threads, bodies=None, expect=()):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 (wrk reads it by name)
    lines = [f'wrk.method = "{method}"', f'wrk.headers["Accept"] = "{MEDIA_TYPE}"',
             f'wrk.headers["Authorization"] = "Bearer {token}"']
    if body is not None or bodies:
        lines += [f'wrk.headers["Content-Type"] = "{MEDIA_TYPE}"']
    if bodies:
        lines += [WRK_BODIES % ", ".join(json.dumps(json.dumps(b)) for b in bodies)]
    elif body is not None:
        lines += [f"wrk.body = {json.dumps(json.dumps(body))}"]
    threads = min(threads, connections)
    script.write("\n".join(lines) + "\n")
    script.close()
    try:
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
                              "--timeout", "60s", "-s", script.name, url],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
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


def run_python(url, method, token, body, duration, connections, threads, bodies=None, expect=()):
    """A plain-Python load generator, for machines without wrk (slower: it shares the CPU)."""
    latencies, errors, statuses = [], [0], {}
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker():
        sent = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, _, _ = request(url, method, token, bodies[sent % len(bodies)] if bodies else body)
            sent += 1
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 400 and status not in expect:
                    errors[0] += 1

    pool = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
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
        deep_entries = (args.audit + 4) // 5
        deep_page = max(1, min(1000, deep_entries // 100))
        server, base = start_server(env, args.workers, SERVERS[args.server])
        driver = run_wrk if args.driver == "wrk" else run_python
        fill = {"account": seeded["account"], "membership": seeded["membership"], "deep_page": deep_page,
                "busy": seeded["busy_utility"], "product": seeded["near_product"]}
        fill.update(_event_stream(base, seeded["tokens"]["admin"]))
        rows = []
        for endpoint in ENDPOINTS:
            if args.only and not any(part in endpoint.name for part in args.only.split(",")):
                continue
            token = seeded["tokens"][endpoint.token]
            body = _fill(endpoint.body, fill) if endpoint.body else None
            bodies = [_fill(b, fill) for b in endpoint.bodies] if endpoint.bodies else None
            figures = {}
            for side, path in (("api", endpoint.path), ("ceiling", endpoint.ceiling)):
                if path is None:
                    continue
                url = base + path.format(**fill)
                if bodies:  # the credit first, so that the charge that follows has room (a 201 to count)
                    request(url, endpoint.method, token, bodies[-1])
                    body = bodies[0]
                request(url, endpoint.method, token, body)  # warm up (a session may refresh on its first use)
                if bodies:
                    request(url, endpoint.method, token, bodies[-1])
                status, headers, _ = request(url, endpoint.method, token, body)
                if status >= 400:
                    sys.exit(f"{endpoint.name} ({side}): {url} answered {status}")
                result = driver(url, endpoint.method, token, body, args.duration,
                                endpoint.connections or args.connections, 2, bodies=bodies, expect=endpoint.expect)
                result["queries"] = headers.get("X-Query-Count", "?")
                figures[side] = result
            rows.append((endpoint.name, figures))
        print_table(rows, args)
        memory = worker_memory(server)
        print("\nResident memory per worker after the run: "
              + (", ".join(f"pid {pid} {kib / 1024:.1f} MiB" for pid, kib in memory) or "unknown (no /proc)"))
        if args.scaling:
            scaling_curve(env, args, seeded, driver, fill, server, base)
        if args.profile:
            profile_split(env, seeded, fill, args.profile)
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


if __name__ == "__main__":
    main()
