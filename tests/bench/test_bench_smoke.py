"""Smoke test of the benchmark harness: ``python -m bench`` end to end at 300 instances (quick mode),
then every section of the report has figures. Not in the default run (``bench`` marker):

    python -m pytest tests/bench/test_bench_smoke.py -m bench
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench
ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"\d+(\.\d+)?")


def _section(md: str, title: str) -> str:
    start = md.index(f"## {title}")
    nxt = md.find("\n## ", start + 3)
    return md[start: nxt if nxt != -1 else len(md)]


def _rows(section: str) -> list[list[str]]:
    """Data rows of the Markdown tables in ``section``."""
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    header_free = [r for r in rows if not any(h in r[0] for h in ("Target", "Instances", "Kind", "Tool", "Question"))]
    return header_free


def test_harness_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "300", "--quick", "--out", str(out), "--workdir", str(work),
         "--keep"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    md = out.read_text()
    results = json.loads((work / "results.json").read_text())
    r = results["sizes"]["300"]
    assert "failed" not in r, r.get("failed")

    for title in ("Machine and command", "Targets (issue 6)", "Sync", "Read tools, in-process MCP client",
                  "Read tools over streamable-http", "Snapshot vs live API", "Concurrent load over HTTP during a full sync"):
        assert f"## {title}" in md, f"missing section {title!r}"
    assert "nproc" in md and "SQLite" in md and "python -m bench --sizes 300 --quick" in md

    # Sync: full sync, RSS, database size and incremental sync are numbers; every kind succeeded.
    sync = _rows(_section(md, "Sync"))
    assert sync[0][0] == "300" and all(NUMBER.search(c) for c in sync[0][1:]), sync[0]
    assert all(k["status"] == "succeeded" for k in r["sync"]["kinds"].values()), r["sync"]["kinds"]
    assert r["change"]["changed"] >= 1 and r["change"]["errors"] == 0
    inc = r["incremental"]["kinds"]["servers"]
    assert inc["mode"] == "incremental" and inc["changed"] >= 1, inc
    assert r["sync"]["peak_rss_mb"] > 0 and r["sync"]["db_bytes"] > 0

    # Every registered read tool measured in-process and over HTTP, without errors.
    for key in ("tools", "tools_http"):
        tools = r[key]["tools"]
        assert {"get_sync_status", "get_cluster_status"} <= set(tools)
        for label, t in tools.items():
            assert t["client"]["n"] > 0 and t["client"]["p99"] > 0, (key, label)
            assert (t["errors"] > 0) == t["expected_error"], (key, label, t["first_error"])
    for row in _rows(_section(md, "Read tools, in-process MCP client")):
        assert NUMBER.fullmatch(row[1].replace(",", "")) and NUMBER.fullmatch(row[3].replace(",", "")), row
    # Answer sizes (issue 10): every case's bytes and token estimate, within the budgets.
    for label, t in r["tools"]["tools"].items():
        assert t["text_bytes"] > 0 and t["tokens_est"] == round((t["text_bytes"] + t["structured_bytes"]) / 4), label
        assert t["text_bytes"] + t["structured_bytes"] <= 80 * 1024, label
    answers = _section(md, "Answers (issue 10)")
    assert "Largest answer at any argument" in answers and _rows(answers)

    # Live baseline at 0 and 20 ms with a ratio per question whose tool is registered.
    live = _section(md, "Snapshot vs live API")
    assert "@0 ms" in live and "@20 ms" in live
    for lat in ("0.0", "0.02"):
        for q, b in r["live"][lat]["baselines"].items():
            assert b["ms"]["n"] >= 1 and b["note"] is None, (lat, q, b)
    assert any(re.search(r"\d+x", row[-1]) for row in _rows(live))

    # Load: calls succeeded, throughput and percentiles are numbers, no errors.
    load = _rows(_section(md, "Concurrent load over HTTP during a full sync"))
    assert load and all(NUMBER.search(c) for c in load[0][:9]), load
    assert r["load"]["ok"] > 0 and r["load"]["errors"] == 0, r["load"]
