"""Migrations take a per-database lock (PostgreSQL: an advisory lock; SQLite: the write lock), so
replicas that start together on an empty database migrate one after the other and the later ones
find the schema at head."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from app.db.migrate import PG_MIGRATION_LOCK, current, head, upgrade
from tests import backend

ROOT = Path(__file__).resolve().parents[2]
STARTERS = 3
DEADLINE = 120.0


def test_replicas_migrating_one_empty_database_together(tmp_path: Path) -> None:
    """Several processes, released at once by the parent after all have imported everything, each run
    ``upgrade()`` on the same empty database: all succeed, and the database ends at head."""
    url = backend.database_url(tmp_path / "together.db", empty=True)
    code = ("import sys; from app.db.migrate import upgrade; import app.resources.registry as r; "
            "r.load_all_tables(); print('ready', flush=True); sys.stdin.readline(); upgrade(sys.argv[1]); "
            "print('done', flush=True)")
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(STARTERS)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:  # release them together
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            out, err = p.communicate(timeout=DEADLINE)
            assert p.returncode == 0, err[-3000:]
            assert out.strip() == "done"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert current(url) == head()


def test_upgrade_waits_for_the_migration_lock(tmp_path: Path) -> None:
    """While another connection holds the lock, ``upgrade()`` waits (it has not touched the schema);
    once the lock is released it migrates."""
    url = backend.database_url(tmp_path / "locked.db", empty=True)
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(url)
        except BaseException as e:  # reported by the test thread
            errors.append(e)

    with backend.connect(url) as holder:
        if backend.POSTGRES:
            holder.execute("SELECT pg_advisory_lock(:k)", {"k": PG_MIGRATION_LOCK})
        else:
            holder.execute("BEGIN IMMEDIATE")
        worker = threading.Thread(target=migrate)
        worker.start()
        if backend.POSTGRES:
            # Observable state, not a timing: the upgrader's session waits on our advisory lock.
            deadline = time.monotonic() + DEADLINE
            while not holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).scalar_one():
                assert worker.is_alive() and time.monotonic() < deadline, errors
                time.sleep(0.05)
        assert worker.is_alive() and current(url) is None
        if backend.POSTGRES:
            holder.execute("SELECT pg_advisory_unlock(:k)", {"k": PG_MIGRATION_LOCK})
        else:
            holder.execute("COMMIT")
        worker.join(DEADLINE)
    assert not worker.is_alive() and not errors, errors
    assert current(url) == head()
