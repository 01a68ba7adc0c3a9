"""Run one blocking openstacksdk write on the cloud client's pool and collect the OpenStack request
ids of the write requests it sent (POST/PUT/PATCH/DELETE, not authentication) (a response hook on the connection's ``requests`` session,
scoped to the calling worker thread), even when the call fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from app.cloud.connection import CloudClient

T = TypeVar("T")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})  # reads (discovery, GETs) are not recorded
REQUEST_ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id", "openstack-request-id")

_local = threading.local()
_HOOK_MARK = "_ops_request_id_hook"


def _hook(response: Any, *args: Any, **kwargs: Any) -> Any:
    sink = getattr(_local, "sink", None)
    request = getattr(response, "request", None)
    method = str(getattr(request, "method", "") or "").upper()
    if method in WRITE_METHODS and "/auth/tokens" not in str(getattr(request, "url", "")) and sink is not None:
        for h in REQUEST_ID_HEADERS:
            rid = response.headers.get(h)
            if rid and rid not in sink:
                sink.append(rid)
                break
    return response


def install_hook(conn: Any) -> None:
    """Add the response hook to the connection's requests session (once)."""
    session = getattr(getattr(conn, "session", None), "session", None)
    if session is None or getattr(session, _HOOK_MARK, False):
        return
    session.hooks.setdefault("response", []).append(_hook)
    setattr(session, _HOOK_MARK, True)


def _collecting(fn: Callable[..., T], sink: list[str], args: tuple[Any, ...]) -> T:
    _local.sink = sink
    try:
        return fn(*args)
    finally:
        _local.sink = None


async def call_sdk(cloud: CloudClient, fn: Callable[..., T], *args: Any, doing: str,
                   request_ids: list[str]) -> T:
    """``await call_sdk(app.cloud, conn.compute.stop_server, sid, doing="stopping web-1", request_ids=ids)``:
    runs ``fn(*args)`` via ``cloud.run`` (errors translated to ``app.errors``); ``request_ids`` receives the
    request ids seen, also on failure."""
    install_hook(cloud.write_conn)
    return await cloud.run(_collecting, fn, request_ids, args, doing=doing)
