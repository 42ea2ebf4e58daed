"""`python -m bench.sse`: N concurrent Server-Sent Events listeners on ONE worker process.

Starts gunicorn from the repository root (gunicorn.conf.py: ASGI, uvicorn's worker) with
`-w 1` over a fresh database (a temporary SQLite file, or `--database-url`, an empty
PostgreSQL database, which is then migrated), opens N listeners on one event stream (the
read token, as browsers' EventSource would), then writes through the API (an account POST,
one audit entry per write the listeners see) and prints, per write and overall, the time
from sending the write to each listener receiving its event (p50/p99/max), and the worker's
resident memory per listener (its RSS with N listeners minus its RSS with none, over N).

The listeners run in this process on one event loop (uvloop when installed), so the
latency includes the client's own time to read N sockets; on a shared machine it is an
upper bound. Figures are printed, never asserted.
"""

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PASSWORD = "bench-Sse-password-1"
MEDIA = "application/vnd.api+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(method, url, body=None, token=None):
    headers = {"Content-Type": MEDIA, "Accept": MEDIA}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def rss_kib(pid) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def worker_pid(master) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("no worker")


class Listener:
    __slots__ = ("reader", "writer", "buffer")

    def __init__(self, reader, writer):
        self.reader, self.writer, self.buffer = reader, writer, b""

    async def until(self, needle: bytes) -> float:
        """Read until `needle` arrives; when it did."""
        while needle not in self.buffer:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("the stream ended")
            self.buffer += chunk
        self.buffer = self.buffer[self.buffer.index(needle) + len(needle):]
        return time.perf_counter()


async def connect(port, path) -> Listener:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    listener = Listener(reader, writer)
    await listener.until(b"retry: 3000\n\n")
    return listener


async def measure(args, port, stream_id, read_token, token, worker):
    path = f"/api/v1/event-streams/{stream_id}/sse/?token={read_token}"
    base = f"http://127.0.0.1:{port}"
    loop = asyncio.get_running_loop()
    await asyncio.sleep(1)
    idle_rss = rss_kib(worker)
    listeners = []
    started = time.perf_counter()
    for offset in range(0, args.listeners, 100):  # in batches, within the listen backlog
        listeners += await asyncio.gather(*(connect(port, path) for _ in range(min(100, args.listeners - offset))))
    connected = time.perf_counter() - started
    await asyncio.sleep(2)
    busy_rss = rss_kib(worker)
    print(f"{len(listeners)} listeners connected in {connected:.1f} s; worker RSS {idle_rss} KiB idle, "
          f"{busy_rss} KiB with them: {(busy_rss - idle_rss) / len(listeners):.1f} KiB per listener", flush=True)
    all_latencies = []
    for number in range(args.writes):
        name = f"Bench SSE {number} {time.time_ns()}"
        needle = json.dumps(name).encode()
        waits = [asyncio.ensure_future(listener.until(needle)) for listener in listeners]
        sent = time.perf_counter()
        await loop.run_in_executor(None, lambda name=name: call(
            "POST", f"{base}/api/v1/accounts/", {"data": {"type": "Account", "attributes": {"name": name}}}, token))
        written = time.perf_counter()
        arrivals = await asyncio.wait_for(asyncio.gather(*waits), 60)
        latencies = sorted((arrival - sent) * 1000 for arrival in arrivals)
        all_latencies += latencies
        print(f"write {number + 1}: POST answered in {(written - sent) * 1000:.0f} ms; delivered to all "
              f"{len(latencies)}: p50 {pct(latencies, 0.5):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms, "
              f"max {latencies[-1]:.0f} ms", flush=True)
        await asyncio.sleep(args.pause)
    all_latencies.sort()
    print(f"overall ({len(all_latencies)} deliveries): p50 {pct(all_latencies, 0.5):.0f} ms, "
          f"p99 {pct(all_latencies, 0.99):.0f} ms, max {all_latencies[-1]:.0f} ms, "
          f"mean {statistics.fmean(all_latencies):.0f} ms", flush=True)
    for listener in listeners:
        listener.writer.close()
    await asyncio.sleep(2)
    print(f"worker RSS after they left: {rss_kib(worker)} KiB", flush=True)


def pct(values, q):
    return values[min(len(values) - 1, int(q * len(values)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between writes")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="an EMPTY database (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    # N sockets here and N in the server (which inherits the limit): raise the soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.listeners + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard),
                                                    hard))
    workdir = tempfile.mkdtemp(prefix="roster-sse-bench-")
    env = {**os.environ, "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/db.sqlite3",
           "DJANGO_SETTINGS_MODULE": "config.settings.local", "DJANGO_DEBUG": "true",
           "DJANGO_SUPERUSER_EMAIL": "sse-bench@example.org", "DJANGO_SUPERUSER_USERNAME": "sse-bench",
           "DJANGO_SUPERUSER_PASSWORD": PASSWORD, "DJANGO_LOG_LEVEL": "WARNING"}
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "createsuperuser", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = free_port()
    server = subprocess.Popen([str(Path(PYTHON).parent / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "1",
                               "--backlog", "4096", "--log-level", "warning"], cwd=ROOT, env=env,
                              start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                call("GET", f"{base}/api/v1/version/")
                break
            except OSError:
                time.sleep(0.2)
        token = call("POST", f"{base}/api/v1/sessions/", {"data": {"type": "Session", "attributes": {
            "email": "sse-bench@example.org", "password": PASSWORD}}})["data"]["attributes"]["token"]
        stream = call("POST", f"{base}/api/v1/event-streams/", {"data": {"type": "EventStream"}}, token)["data"]
        print(f"Serving on {base} with one uvicorn worker ({env['DATABASE_URL'].split('@')[-1]}).", flush=True)
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(measure(args, port, stream["id"], stream["attributes"]["readToken"], token, worker_pid(server.pid)))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
