"""SQLite WAL checkpoints off the commit path.

In WAL mode a commit appends the transaction's pages to the ``-wal`` file; a *checkpoint* copies them
back into the database file (and syncs both). By default SQLite runs one inside ``COMMIT`` whenever
the WAL holds more than 1,000 pages, so the writer (and the in-process write lock every sync and
write-through waits on) pays for copying every page of earlier transactions too. Measured on a
100,000-server snapshot: an incremental sync of 1,000 changed servers (3 pages of 1,000 listed)
wrote ~22,000 WAL pages; its three commits took 0.97-1.05 s, 0.22 s of it the commits themselves and
the rest the checkpoints (one ``PRAGMA wal_checkpoint(PASSIVE)`` of those pages: 0.75 s).

Here the connections that write set ``wal_autocheckpoint`` to :data:`BACKSTOP_PAGES` (a backstop
only, for a checkpointer that cannot keep up), and after each committed write transaction
:meth:`WalCheckpointer.request` wakes one background thread that runs ``PRAGMA
wal_checkpoint(PASSIVE)`` on its own connection: it copies what readers no longer need, never waits
for readers or writers, and runs while the next transaction writes (SQLite releases the GIL).
Requests that arrive while a checkpoint runs are served by one more. Durability is unchanged: a
transaction is durable in the WAL once committed (``synchronous=NORMAL`` syncs at checkpoints, as
before).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# wal_autocheckpoint of the writing connections (pages of the page size, 4 KiB by default: ~80 MB):
# reached only when the background checkpointer falls behind (e.g. it failed), so the WAL stays bounded.
BACKSTOP_PAGES = 20_000


class WalCheckpointer:
    """One background thread checkpointing ``path``'s WAL after commits; ``close()`` stops it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.checkpoints = 0  # completed checkpoint attempts (tests wait on it)
        self.last: tuple[int, int, int] | None = None  # (busy, WAL frames, frames checkpointed) of the last one
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None

    def request(self) -> None:
        """A write transaction committed: checkpoint soon (started lazily, coalesced)."""
        if self._closed:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()
        self._wake.set()

    def wait(self, after: int, timeout: float) -> bool:
        """Block until more than ``after`` checkpoints have completed (False on timeout)."""
        with self._done:
            return self._done.wait_for(lambda: self.checkpoints > after, timeout)

    def close(self) -> None:
        """Stop the thread (a checkpoint in progress finishes first)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                if self._closed:
                    return
                self._wake.clear()
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.last = (int(row[0]), int(row[1]), int(row[2]))
                    self._last_error = None
                except sqlite3.Error as e:  # the backstop still bounds the WAL; say so once per distinct error
                    if str(e) != self._last_error:
                        log.warning("WAL checkpoint of %s failed (SQLite's own checkpoint at %d pages remains): %s",
                                    self.path, BACKSTOP_PAGES, e)
                    self._last_error = str(e)
                with self._done:
                    self.checkpoints += 1
                    self._done.notify_all()
        finally:
            if conn is not None:
                conn.close()
