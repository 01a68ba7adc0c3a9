"""``db upgrade|current|downgrade`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.db.migrate import current, head
from tests import backend


def test_db_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = backend.database_url(tmp_path / "cli.db", empty=True)
    assert main(["db", "current", "--database-url", url]) == 1
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert current(url) == head()
    assert main(["db", "--database-url", url, "current"]) == 0
    assert f"current: {head()}" in capsys.readouterr().out
    assert main(["db", "downgrade", "--revision", "0001_initial", "--database-url", url]) == 0
    assert current(url) == "0001_initial"


@backend.sqlite_only
def test_db_cli_uses_settings_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("OPS_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    assert current(url) == head()
