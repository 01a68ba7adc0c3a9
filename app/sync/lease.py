"""The poller lease: exactly one process polls a database (per cloud label) at a time.

Taking or renewing is one atomic ``UPDATE poller_lease SET owner=me, expires_at=now+ttl, epoch=...
WHERE name=:name AND (expires_at < now OR owner = me)``; the very first holder INSERTs the row (a
concurrent first INSERT loses on the primary key and simply does not hold the lease). ``epoch`` goes
up whenever the lease changes hands and is never reset (a release keeps the row, expired and
ownerless), so (owner, epoch) names one tenure: :meth:`Lease.fence` hands it to the sync, whose every
write checks it (app/db/fence.py).

Lease statements run on the database's lease connection (:meth:`Database.lease_writer`), not behind
the snapshot writer's queue: a renewal never waits for more than one short write transaction.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update

from app.db.bookkeeping import poller_lease
from app.db.engine import Database, dialect_insert, utcnow
from app.db.fence import Fence

FREE = ""  # owner of a released lease


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    acquired_at: datetime
    expires_at: datetime
    epoch: int = 0


class Lease:
    def __init__(self, db: Database, name: str, ttl: float, owner: str | None = None) -> None:
        self.db = db
        self.name = name
        self.ttl = ttl
        self.owner = owner or default_owner()
        self.epoch: int | None = None  # of our tenure, while we hold the lease

    async def acquire(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free or expired, or renew it if we hold it. True when we hold it."""
        now = now or utcnow()
        expires = now + timedelta(seconds=self.ttl)
        t = poller_lease
        mine = t.c.owner == self.owner
        async with self.db.lease_writer() as conn:
            res = await conn.execute(
                update(t)
                .where(t.c.name == self.name, or_(t.c.expires_at < now, mine))
                .values(owner=self.owner, expires_at=expires,
                        acquired_at=case((mine, t.c.acquired_at), else_=now),
                        epoch=case((mine, t.c.epoch), else_=t.c.epoch + 1))
            )
            if not res.rowcount:
                ins = dialect_insert(self.db.dialect_name, t).values(
                    name=self.name, owner=self.owner, acquired_at=now, expires_at=expires, epoch=1
                ).on_conflict_do_nothing(index_elements=[t.c.name])
                res = await conn.execute(ins)
            if not res.rowcount:
                self.epoch = None
                return False
            self.epoch = int((await conn.execute(select(t.c.epoch).where(t.c.name == self.name))).scalar_one())
            return True

    async def renew(self, now: datetime | None = None) -> bool:
        """Extend our lease; False if we lost it (expired and taken by another process)."""
        now = now or utcnow()
        t = poller_lease
        async with self.db.lease_writer() as conn:
            res = await conn.execute(
                update(t).where(t.c.name == self.name, t.c.owner == self.owner)
                .values(expires_at=now + timedelta(seconds=self.ttl))
            )
            held = bool(res.rowcount)
        if not held:
            self.epoch = None
        return held

    def fence(self) -> Fence | None:
        """The fencing token of our current tenure (None when we do not hold the lease)."""
        if self.epoch is None:
            return None
        return Fence(lease_name=self.name, owner=self.owner, epoch=self.epoch, ttl=self.ttl)

    async def release(self) -> None:
        """Give the lease up now (clean shutdown) so another process can take over at once. The row
        stays (ownerless, expired) so the epoch keeps counting up."""
        t = poller_lease
        async with self.db.lease_writer() as conn:
            await conn.execute(update(t).where(t.c.name == self.name, t.c.owner == self.owner)
                               .values(owner=FREE, expires_at=utcnow() - timedelta(seconds=1)))
        self.epoch = None

    async def holder(self) -> LeaseHolder | None:
        """The current holder, or None when the lease was released (or never taken)."""
        async with self.db.reader() as conn:
            row = (await conn.execute(
                select(poller_lease.c.owner, poller_lease.c.acquired_at, poller_lease.c.expires_at,
                       poller_lease.c.epoch)
                .where(poller_lease.c.name == self.name)
            )).first()
        if row is None or row[0] == FREE:
            return None
        return LeaseHolder(*row)
