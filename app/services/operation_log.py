"""The audit log of management calls, for the ``get_operation_log`` read tool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from app.services.models import PageInfo
from app.services.operations.models import OperationEntry, OperationLog
from app.services.operations.tables import operations
from app.services.paging import page_total
from app.services.query import check_window

if TYPE_CHECKING:
    from app.context import AppContext


async def operation_log(app: AppContext, limit: int, offset: int, tool: str | None) -> OperationLog:
    check_window(limit, offset)
    t = operations
    where = [t.c.cloud == app.cloud_name] + ([t.c.tool == tool] if tool else [])

    def read(conn: Connection) -> tuple[int, list[Any]]:
        # the page and its total in one worker-thread call and one snapshot (it was a thread hop each)
        rows = conn.execute(select(t).where(*where).order_by(t.c.at.desc(), t.c.id.desc())
                            .limit(limit).offset(offset)).mappings().all()
        return page_total(conn, select(func.count()).select_from(t).where(*where), len(rows), limit, offset), list(rows)

    total, rows = await app.db.read(read)
    entries = [OperationEntry(**{**{k: v for k, v in r.items() if k in OperationEntry.model_fields},
                                 "targets": r["targets"] or [], "arguments": r["arguments"] or {},
                                 "request_ids": r["request_ids"] or []}) for r in rows]
    page = PageInfo.of(total, len(entries), offset, limit)
    return OperationLog(**page.model_dump(), operations=entries)
