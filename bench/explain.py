"""The database's plan for every query a request issues: `EXPLAIN ANALYZE` on PostgreSQL,
`EXPLAIN QUERY PLAN` on SQLite.

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=... \
        .venv/bin/python -m bench.explain --path /api/v1/memberships/?page_size=100 --token TOKEN [--full]

Sends the request once in this process (Django's test client, after a warm-up), captures its
SQL and asks the database to explain each statement (reads only: the request must be a GET).
Prints, per statement, its time as measured by the database, the plan's top lines and, with
`--full`, the whole plan. `bench.run --explain` runs it for each GET endpoint of the bench on
the seeded database. Figures are printed, never asserted.
"""

import argparse
import json
import re
import sys

TOP_LINES = 6


def explain(path: str, token: str, full: bool = False) -> list[dict]:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}",
                    HTTP_ACCEPT="application/vnd.api+json")
    client.get(path)  # warm up: caches, the session's first touch
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code >= 400:
        sys.exit(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
    statements = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plan = [row[0] for row in cursor.fetchall()]
                timing = next((line for line in plan if line.startswith("Execution Time")), "")
                milliseconds = float(re.search(r"([\d.]+) ms", timing).group(1)) if timing else None
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
                plan = _indented(cursor.fetchall())
                milliseconds = float(query["time"]) * 1000
        statements.append({"sql": sql, "ms": milliseconds, "plan": plan if full else plan[:TOP_LINES]})
    return statements


def _indented(rows) -> list[str]:
    """SQLite's plan rows are (id, parent, notused, detail): each indented under its parent."""
    depth, lines = {0: -1}, []
    for node, parent, _notused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append(f"{'  ' * depth[node]}{detail}")
    return lines


def print_statements(name: str, statements: list[dict]) -> None:
    total = sum(statement["ms"] or 0 for statement in statements)
    print(f"\n== {name}: {len(statements)} statements, {total:.2f} ms in the database")
    for number, statement in enumerate(statements, 1):
        sql = " ".join(statement["sql"].split())
        print(f"  [{number}] {statement['ms']:.2f} ms  {sql[:150]}{'…' if len(sql) > 150 else ''}")
        for line in statement["plan"]:
            print(f"        {line}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", action="append", required=True, help="a GET path (repeatable)")
    parser.add_argument("--token", action="append", required=True, help="its bearer token (one per --path)")
    parser.add_argument("--name", action="append", help="a label per --path")
    parser.add_argument("--full", action="store_true", help="print whole plans")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    names = args.name or args.path
    results = []
    for name, path, token in zip(names, args.path, args.token, strict=True):
        results.append((name, explain(path, token, args.full)))
    if args.json:
        print(json.dumps(results))
        return
    for name, statements in results:
        print_statements(name, statements)


if __name__ == "__main__":
    main()
