"""A small run of the benchmark harness, so `make bench` keeps working. Figures are not asserted."""

import subprocess
import sys
from pathlib import Path

from bench.run import ENDPOINTS

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_harness_runs_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--accounts", "2", "--utilities", "4", "--users", "20",
         "--memberships", "60", "--audit", "200", "--duration", "1", "--connections", "2", "--driver", "python",
         "--database-url", f"sqlite:///{tmp_path}/bench.sqlite3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table, targets = result.stdout.split("ratio", 1)[1].split("Targets (issue 16)", 1)
    for endpoint in ENDPOINTS:
        line = next(row for row in table.splitlines() if row.startswith(endpoint.name))
        assert "(errors!)" not in line, line
        assert float(line[len(endpoint.name):].split()[0]) > 0, line  # it served requests (no speed asserted)
        assert endpoint.name in targets


def test_explain_prints_a_plan_for_every_statement_of_a_request(db, capsys):
    """`bench.run --explain` (bench.explain): each statement of a GET with its plan."""
    from bench.explain import explain, print_statements
    from tests.factories import UserFactory
    from tests.jsonapi import token_for

    statements = explain("/api/v1/memberships/?page_size=100", token_for(UserFactory()))
    assert statements and all(statement["plan"] and statement["ms"] is not None for statement in statements)
    print_statements("memberships", statements)
    assert f"== memberships: {len(statements)} statements" in capsys.readouterr().out
