"""Where a request's CPU time goes: framework, our code, database, JSON.

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=... \
        .venv/bin/python -m bench.profile --path /api/v1/memberships/?page_size=100 --token TOKEN

Sends the request `--requests` times in this process (Django's test client, no server, no
network) under cProfile and splits the functions' own time (cProfile's tottime) by where each
function lives:

- database: the driver (sqlite3, psycopg) and its C methods — executing and fetching;
- JSON: the json module and its C encoder (rendering the document);
- our code: this repository's modules (not .venv);
- framework: everything else — Django, DRF, DJA, the standard library.

`bench.run --profile` runs it against the seeded database and prints the split; `--top N`
also prints the N functions with most cumulative time under our code. Figures are printed,
never asserted. The profiler's own overhead inflates many small calls (framework) more than
a few long ones (database), so read it as proportions, not as times.
"""

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ("framework", "our code", "database", "JSON")
_DB_MARKERS = ("sqlite3", "psycopg", "_sqlite")
_JSON_MARKERS = ("/json/", "_json", "orjson", "'encode' of", "c_make_encoder")


def category(filename: str, name: str) -> str:
    where = f"{filename} {name}"
    if any(marker in where for marker in _DB_MARKERS):
        return "database"
    if any(marker in where for marker in _JSON_MARKERS):
        return "JSON"
    if filename.startswith(str(ROOT)) and "/.venv/" not in filename and "site-packages" not in filename:
        return "our code"
    return "framework"


def split(stats: pstats.Stats) -> dict:
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for (filename, _line, name), (_cc, _nc, tottime, _cumtime, _callers) in stats.stats.items():
        totals[category(filename, name)] += tottime
    return totals


def profile(path, token, requests, method="GET", body=None) -> dict:
    import django

    django.setup()
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}",
                    HTTP_ACCEPT="application/vnd.api+json")

    def send():
        if method == "GET":
            response = client.get(path)
        else:
            response = client.generic(method, path, json.dumps(body) if body else "",
                                      content_type="application/vnd.api+json")
        if response.status_code >= 400:
            sys.exit(f"{method} {path} answered {response.status_code}: {response.content[:300]!r}")

    for _ in range(3):
        send()  # warm up: imports, caches, the session's first touch
    started = time.process_time()
    for _ in range(requests):
        send()
    plain = (time.process_time() - started) / requests
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        send()
    profiler.disable()
    stats = pstats.Stats(profiler)
    totals = split(stats)
    whole = sum(totals.values()) or 1.0
    ours = sorted(((ct, f"{Path(f).relative_to(ROOT)}:{line} {name}")
                   for (f, line, name), (_cc, _nc, _tt, ct, _c) in stats.stats.items()
                   if category(f, name) == "our code" and not f.endswith("bench/profile.py")), reverse=True)
    calls = sum(nc for (_cc, nc, _tt, _ct, _c) in stats.stats.values()) // requests
    return {"path": path, "method": method, "requests": requests, "cpu_ms_per_request": round(plain * 1000, 2),
            "python_calls_per_request": calls,
            "share": {key: round(value / whole, 3) for key, value in totals.items()},
            "our_code_cumulative_ms": [(round(ct * 1000 / requests, 2), where) for ct, where in ours[:15]]}


def print_split(result, top=0):
    share = result["share"]
    print(f"\nCPU split of {result['method']} {result['path']} ({result['requests']} requests in-process, "
          f"{result['cpu_ms_per_request']} ms CPU each unprofiled, "
          f"{result['python_calls_per_request']} function calls each):")
    print("  " + "  ".join(f"{key} {share[key] * 100:.0f}%" for key in CATEGORIES))
    for ms, where in result["our_code_cumulative_ms"][:top]:
        print(f"    {ms:8.2f} ms cumulative  {where}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="JSON body for a write")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    result = profile(args.path, args.token, args.requests, args.method, json.loads(args.body) if args.body else None)
    if args.json:
        print(json.dumps(result))
    else:
        print_split(result, args.top)


if __name__ == "__main__":
    main()
