"""Parameter types shared by the manage_* tools."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from app.context import AppContext
from app.services.operations import Caller
from app.tools.base import app_context, principal

ConfirmationToken = Annotated[str | None, Field(
    description="Token from the preview of a destructive action; pass it with the identical arguments to execute "
                "(single use, short-lived).")]
Wait = Annotated[bool, Field(
    description="Wait until the resource reaches its target state (progress notifications are sent).")]
Timeout = Annotated[float, Field(description="Maximum seconds to wait when wait=true (1..1800).")]
ListLimit = Annotated[int, Field(description="For list: rows per page (1..200).")]
ListOffset = Annotated[int, Field(description="For list: rows to skip.")]


def caller(ctx: Context[AppContext]) -> Caller:
    """What the management flow needs from a tool's MCP Context: the app, the caller's principal (audit)
    and the progress sink (MCP progress notifications while waiting)."""
    return Caller(app=app_context(ctx), principal=principal(ctx), progress=ctx.report_progress)
