"""Parameter types shared by the manage_* tools."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ConfirmationToken = Annotated[str | None, Field(
    description="Token from the preview of a destructive action; pass it with the identical arguments to execute "
                "(single use, short-lived).")]
Wait = Annotated[bool, Field(
    description="Wait until the resource reaches its target state (progress notifications are sent).")]
Timeout = Annotated[float, Field(description="Maximum seconds to wait when wait=true (1..1800).")]
ListLimit = Annotated[int, Field(description="For list: rows per page (1..200).")]
ListOffset = Annotated[int, Field(description="For list: rows to skip.")]
