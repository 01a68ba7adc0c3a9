"""The audit log of management calls, for the ``get_operation_log`` read tool."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.services.operations.audit import AuditLog
from app.services.operations.models import OperationEntry, OperationLog
from app.services.models import PageInfo
from app.services.query import check_window

if TYPE_CHECKING:
    from app.context import AppContext


async def operation_log(app: AppContext, limit: int, offset: int, tool: str | None) -> OperationLog:
    check_window(limit, offset)
    total, rows = await AuditLog(app.db, app.cloud_name).page(limit, offset, tool or None)
    entries = [OperationEntry(**{**{k: v for k, v in r.items() if k in OperationEntry.model_fields},
                                 "targets": r["targets"] or [], "arguments": r["arguments"] or {},
                                 "request_ids": r["request_ids"] or []}) for r in rows]
    page = PageInfo.of(total, len(entries), offset, limit)
    return OperationLog(**page.model_dump(), operations=entries)
