"""The audit log: one ``operations`` row per management call, whatever its outcome.

``audited(...)`` is an async context manager around a whole call: the body fills the yielded
:class:`AuditEntry` (targets, confirmed, request ids, outcome) and may ``await entry.commit()`` to write
the row early (to return its id); otherwise the row is written on exit. An ``OpsError`` escaping the
body is recorded as ``refused`` (nothing was sent to OpenStack yet) or ``failed`` (after
``entry.submitted = True``) with its message, then re-raised. Arguments are redacted by key.

Before OpenStack is called the row is written ahead as ``in_progress`` (``entry.begin()``) and updated
with the outcome afterwards: a row left ``in_progress`` means the process died while the request was in
flight, so whether OpenStack carried it out is unknown (check the resource)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.db.engine import Database, utcnow
from app.errors import OpsError
from app.resources.base import SECRET_KEYS
from app.services.operations.tables import operations

SECRET_ARG = re.compile(r"pass|secret|token|private|user_data|credential|api_key", re.IGNORECASE)
REDACTED = "***"
MAX_ARG_CHARS = 500


def redact(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments safe to store: secret-looking keys replaced by ``***`` at any depth, long strings cut."""
    def clean(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): (REDACTED if _secret(str(k)) else clean(x)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, str) and len(v) > MAX_ARG_CHARS:
            return v[:MAX_ARG_CHARS] + f"... ({len(v)} chars)"
        return v
    return {k: (REDACTED if _secret(k) and v not in (None, "") else clean(v)) for k, v in arguments.items()}


def _secret(key: str) -> bool:
    return key.lower() in SECRET_KEYS or bool(SECRET_ARG.search(key))


IN_PROGRESS = "in_progress"


@dataclass
class AuditEntry:
    log: AuditLog
    principal: str
    tool: str
    action: str
    arguments: dict[str, Any]
    at: datetime = field(default_factory=utcnow)
    targets: list[dict[str, Any]] = field(default_factory=list)
    confirmed: bool = False
    submitted: bool = False
    outcome: str = "refused"
    error: str | None = None
    request_ids: list[str] = field(default_factory=list)
    id: int | None = None
    final: bool = False
    _t0: float = field(default_factory=time.perf_counter)

    async def begin(self) -> int:
        """Write the row as ``in_progress`` before OpenStack is called (write-ahead): if the process dies
        mid-call, the log still shows the call, and that its outcome is unknown."""
        if self.id is None:
            self.outcome = IN_PROGRESS
            self.id = await self.log.record(self)
        return self.id

    async def commit(self) -> int:
        """Write the final row now (once: insert, or update the write-ahead row) and return its id."""
        if not self.final:
            if self.id is None:
                self.id = await self.log.record(self)
            else:
                await self.log.update(self)
            self.final = True
        assert self.id is not None
        return self.id


class AuditLog:
    def __init__(self, db: Database, cloud: str) -> None:
        self.db = db
        self.cloud = cloud

    async def record(self, e: AuditEntry) -> int:
        values = dict(cloud=self.cloud, at=e.at, principal=e.principal, tool=e.tool, action=e.action[:32],
                      targets=e.targets, arguments=redact(e.arguments), confirmed=e.confirmed, outcome=e.outcome,
                      error=e.error, request_ids=e.request_ids, duration_s=round(time.perf_counter() - e._t0, 3))
        async with self.db.writer() as conn:
            res = await conn.execute(operations.insert().values(**values))
            return int(res.inserted_primary_key[0])

    async def update(self, e: AuditEntry) -> None:
        values = dict(targets=e.targets, confirmed=e.confirmed, outcome=e.outcome, error=e.error,
                      request_ids=e.request_ids, duration_s=round(time.perf_counter() - e._t0, 3))
        async with self.db.writer() as conn:
            await conn.execute(operations.update().where(operations.c.id == e.id).values(**values))

    @asynccontextmanager
    async def audited(self, principal: str, tool: str, action: str,
                      arguments: Mapping[str, Any]) -> AsyncIterator[AuditEntry]:
        entry = AuditEntry(log=self, principal=principal, tool=tool, action=str(action), arguments=dict(arguments))
        try:
            yield entry
        except OpsError as e:
            entry.outcome = "failed" if entry.submitted else "refused"
            entry.error = e.message
            if not entry.final:
                await asyncio.shield(entry.commit())
            raise
        except BaseException as e:
            entry.outcome = "failed"
            entry.error = f"{type(e).__name__}: {e}"[:1000]
            if not entry.final:
                await asyncio.shield(entry.commit())
            raise
        if not entry.final:
            await entry.commit()
