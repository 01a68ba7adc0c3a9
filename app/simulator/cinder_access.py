"""Cinder's project scoping in the simulator: project-in-URL checks, admin detection, owner-checked
lookups of volumes and snapshots."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from app.simulator.core import SimHTTPError, Simulator


def check_project(request: Request) -> str:
    pid = request.path_params["project_id"]
    tok = request.scope.get("state", {}).get("token")
    if tok is not None and tok.project_id and tok.project_id != pid and not is_admin(request):
        raise SimHTTPError(403, f"Project {pid} does not match the token's project.")
    return pid


def is_admin(request: Request) -> bool:
    tok = request.scope.get("state", {}).get("token")
    return tok is None or any(r.get("name") == "admin" for r in tok.roles)


def owned(sim: Simulator, request: Request, kind: str, param: str, owner_key: str, label: str) -> dict[str, Any]:
    """The live ``kind`` record named by the path parameter, visible to the caller's project (admins
    see every project's), settled; Cinder's 404 otherwise."""
    pid = check_project(request)
    rec = sim.state.get(kind, request.path_params[param])
    if rec is not None:
        sim.settle(rec)
    if rec is None or rec["status"] == "deleted" or (rec[owner_key] != pid and not is_admin(request)):
        raise SimHTTPError(404, f"{label} {request.path_params[param]} could not be found.")
    return rec


def truthy(v: str | None) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")
