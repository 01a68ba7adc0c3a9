"""Fencing: a poller's writes are valid only while its lease (owner + epoch) still holds.

The lease (``poller_lease``, app/sync/lease.py) says which process polls; its ``epoch`` goes up every
time it changes hands. A :class:`Fence` is the (lease, owner, epoch) a poller run was started under.
Every write transaction of that run begins with :meth:`Fence.check`, one atomic statement in the same
transaction::

    UPDATE poller_lease SET expires_at = now + ttl WHERE name = :name AND owner = :me AND epoch = :epoch

* no row updated: another process took the lease (or it was released); :class:`LeaseLost` is raised
  and the transaction rolls back, so a paused, slow or partitioned former holder never writes again;
* a row updated: the write goes ahead *and* the lease is renewed, so a poller busy writing never
  loses its lease because its renewal job waited behind those writes.

On SQLite the write transaction is ``BEGIN IMMEDIATE`` (no other writer in between); on PostgreSQL
the UPDATE locks the lease row until commit, so a takeover waits for this transaction and then sees
the extended expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from app.db.bookkeeping import poller_lease


class LeaseLost(Exception):
    """The poller lease moved to another holder: this run's writes are refused (nothing was written)."""


@dataclass(frozen=True)
class Fence:
    lease_name: str
    owner: str
    epoch: int
    ttl: float

    async def check(self, conn: Any, now: Any) -> None:
        """Inside a write transaction: confirm we still hold the lease (and extend it) or raise LeaseLost."""
        t = poller_lease
        res = await conn.execute(
            update(t)
            .where(t.c.name == self.lease_name, t.c.owner == self.owner, t.c.epoch == self.epoch)
            .values(expires_at=now + timedelta(seconds=self.ttl))
        )
        if not res.rowcount:
            raise LeaseLost(f"poller lease {self.lease_name} (epoch {self.epoch}) is no longer held by {self.owner}")
