"""Self-test of the benchmark harness: a 20-instance fleet, the in-process steps only (sync, unchanged re-sync, 1% change, incremental sync,
every registered tool case a couple of times, the first call after a sync for two cases), on the test
backend (``OPS_TEST_DATABASE=postgresql``: SQLite and PostgreSQL side by side), then the report.

Worker processes start in seconds each on an idle machine but took 3 minutes in all on a loaded one,
so it is out of the default run (``bench`` marker); tests/bench/test_tool_args.py (default run) keeps
the harness's cases in step with the registered tools. The full end-to-end run (HTTP, load, live
baseline) is tests/bench/test_bench_smoke.py.

    python -m pytest tests/bench/test_harness_selftest.py -m bench
    OPS_TEST_DATABASE=postgresql python -m pytest tests/bench/test_harness_selftest.py -m bench
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.completions import CASES as COMPLETION_CASES
from tests import backend

pytestmark = pytest.mark.bench
ROOT = Path(__file__).resolve().parents[2]
FIRST = ("get_cluster_status", "search_instances")


def test_harness_runs_every_tool_and_reports(tmp_path: Path) -> None:
    out, work = tmp_path / "benchmarks.md", tmp_path / "work"
    databases = ["sqlite", "postgresql"] if backend.POSTGRES else ["sqlite"]
    pg = ["--postgres-url", backend.cluster().server_url] if backend.POSTGRES else []
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "20", "--tools-only", "--quick", "--iterations", "1",
         "--budget", "1", "--database", ",".join(databases), *pg, "--first-cases", ",".join(FIRST),
         "--out", str(out), "--workdir", str(work)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads((work / "results.json").read_text())["sizes"]["20"]
    assert "failed" not in r, r.get("failed")
    per = {r["backend"]: r, **r["backends"]}
    assert list(per) == databases

    for name, b in per.items():
        for step in ("sync", "resync", "incremental"):
            assert b[step]["total_s"] > 0, (name, step)
        assert all(k["status"] == "succeeded" for k in b["sync"]["kinds"].values()), (name, b["sync"]["kinds"])
        assert b["resync"]["kinds"]["servers"]["changed"] == 0, (name, b["resync"]["kinds"]["servers"])
        assert b["incremental"]["kinds"]["servers"]["changed"] >= 1, name
        tools = b["tools"]["tools"]
        # every registered read tool is a case, and every case answered (or refused, where that is the case)
        assert {t for t in b["tools"]["registered"] if not t.startswith(("manage_", "set_"))} <= set(tools)
        for label, t in tools.items():
            assert t["client"]["n"] >= 1 and t["text_bytes"] > 0, (name, label)
            assert (t["errors"] > 0) == t["expected_error"], (name, label, t["first_error"])
        assert tools["get_console_log"]["live"] and not tools["get_changes"]["live"]
        comp = b["completions"]["completions"]
        assert set(comp) == set(COMPLETION_CASES), name
        assert all(c["client"]["n"] >= 1 for c in comp.values()), name
        assert comp["instances: empty"]["values"] > 0 and comp["instances: 'zzqx' (matches nothing)"]["values"] == 0
        fc = b["firstcall"]["cases"]
        assert set(fc) == set(FIRST), (name, fc)
        for label, c in fc.items():
            assert c["first"]["client_ms"] > 0 and c["first"]["handler_ms"] > 0, (name, label, c)
            assert c["sync"]["status"] == "succeeded" and c["sync"]["changed"] >= 1, (name, label, c["sync"])
            assert c["warm"]["client"]["n"] >= 1 and not c["first_error"], (name, label, c)

    md = out.read_text()
    for title in ("Targets (issue 11)", "Targets (issue 6)", "First call after a sync (issue 11)", "Sync",
                  "Argument completion (issue 13)",
                  "Read tools, in-process MCP client"):
        assert f"## {title}" in md, title
    assert "(live)" in md and "refused as designed" in md
    if backend.POSTGRES:
        assert "## SQLite and PostgreSQL side by side (issue 12)" in md and "Unchanged re-sync" in md
