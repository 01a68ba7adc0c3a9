"""The 2-minute version of the issue 9 soak (``python -m bench soak``): simulator with churn, two servers
on one database, 30 MCP clients reading and writing, fault phases, SIGKILL and SIGSTOP of the lease
holder; then faults off and the targets are asserted. Not in the default run (``slow`` marker):

    python -m pytest tests/bench/test_soak.py -m slow

Until the issue 9 fixes land (fenced lease, never-lowered sync marker, renewal that does not starve)
this test is expected to fail on the targets it names; the printed report says which and how."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_soak_two_minutes(tmp_path: Path) -> None:
    out_json = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "soak", "--minutes", "2", "--servers", "1000", "--clients", "30",
         "--workdir", str(tmp_path / "work"), "--json", str(out_json)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    report = proc.stdout + "\n--- stderr (tail) ---\n" + proc.stderr[-4000:]
    assert out_json.exists(), report
    r = json.loads(out_json.read_text())
    # the run really exercised what it claims to
    assert r["client_results"]["calls"] > 500, report
    assert r["writes_ok"] > 0 and r["tombstones"] > 0, report
    assert r["lease"]["distinct_owners"] >= 2, report
    assert any("SIGKILL" in e["what"] for e in r["timeline"]), report
    assert any("SIGSTOP" in e["what"] for e in r["timeline"]), report
    # the targets (issue 9)
    assert not r["false_tombstones"], report
    assert r["converged_s"] is not None and r["converged_s"] <= r["bound_s"], report
    assert not r["errors_unexpected"], report
    assert r["lease"]["healthy_losses"] == 0, report
    assert r["integrity_check"] == "ok", report
    assert proc.returncode == 0, report
