"""The poller lease: exactly one process polls a database (per cloud label) at a time.

Taking or renewing is one atomic ``UPDATE poller_lease SET owner=me, expires_at=now+ttl WHERE
name=:name AND (expires_at < now OR owner = me)``; the very first holder INSERTs the row (a
concurrent first INSERT loses on the primary key and simply does not hold the lease).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update

from app.db.bookkeeping import poller_lease
from app.db.engine import Database, dialect_insert, utcnow


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    acquired_at: datetime
    expires_at: datetime


class Lease:
    def __init__(self, db: Database, name: str, ttl: float, owner: str | None = None) -> None:
        self.db = db
        self.name = name
        self.ttl = ttl
        self.owner = owner or default_owner()

    async def acquire(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free or expired, or renew it if we hold it. True when we hold it."""
        now = now or utcnow()
        expires = now + timedelta(seconds=self.ttl)
        t = poller_lease
        async with self.db.writer() as conn:
            res = await conn.execute(
                update(t)
                .where(t.c.name == self.name, or_(t.c.expires_at < now, t.c.owner == self.owner))
                .values(owner=self.owner, expires_at=expires,
                        acquired_at=case((t.c.owner == self.owner, t.c.acquired_at), else_=now))
            )
            if res.rowcount:
                return True
            ins = dialect_insert(self.db.dialect_name, t).values(
                name=self.name, owner=self.owner, acquired_at=now, expires_at=expires
            ).on_conflict_do_nothing(index_elements=[t.c.name])
            res = await conn.execute(ins)
            return bool(res.rowcount)

    async def renew(self, now: datetime | None = None) -> bool:
        """Extend our lease; False if we lost it (expired and taken by another process)."""
        now = now or utcnow()
        t = poller_lease
        async with self.db.writer() as conn:
            res = await conn.execute(
                update(t).where(t.c.name == self.name, t.c.owner == self.owner)
                .values(expires_at=now + timedelta(seconds=self.ttl))
            )
            return bool(res.rowcount)

    async def release(self) -> None:
        """Give the lease up now (clean shutdown) so another process can take over at once."""
        async with self.db.writer() as conn:
            await conn.execute(delete(poller_lease).where(
                poller_lease.c.name == self.name, poller_lease.c.owner == self.owner))

    async def holder(self) -> LeaseHolder | None:
        async with self.db.reader() as conn:
            row = (await conn.execute(
                select(poller_lease.c.owner, poller_lease.c.acquired_at, poller_lease.c.expires_at)
                .where(poller_lease.c.name == self.name)
            )).first()
        return LeaseHolder(*row) if row else None
