"""Neutron agents in the simulator: list, show, update (admin_state_up, description), delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import SimHTTPError, Simulator, iso, json_body
from app.simulator.neutron_api import Spec, body_of, get_or_404, is_admin, list_handler, render_plain, show_handler


def routes(sim: Simulator) -> list[BaseRoute]:
    def render_agent(s: Simulator, r: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in render_plain(s, r).items() if k != "tenant_id"}
        if r.get("alive"):  # live agents report every few seconds
            out["heartbeat_timestamp"] = (iso(s.now() - 7) or "").replace("T", " ").rstrip("Z")
        return out

    spec = Spec("agents", "agent", render_agent, "Agent")

    async def update_agent(request: Request) -> Response:
        if not is_admin(request):
            raise SimHTTPError(403, "rule:update_agent is disallowed by policy")
        rec = get_or_404(sim, request, spec, request.path_params["id"])
        body = await body_of(request, "agent")
        bad = [k for k in body if k not in ("admin_state_up", "description")]
        if bad:
            raise SimHTTPError(400, f"Cannot update read-only attribute {bad[0]}")
        rec.update(body)
        return json_body({"agent": spec.render(sim, rec)})

    async def delete_agent(request: Request) -> Response:
        if not is_admin(request):
            raise SimHTTPError(403, "rule:delete_agent is disallowed by policy")
        rec = get_or_404(sim, request, spec, request.path_params["id"])
        sim.state.remove("agents", rec["id"])
        return Response(status_code=204)

    return [
        Route("/v2.0/agents", list_handler(sim, spec), methods=["GET"]),
        Route("/v2.0/agents/{id}", show_handler(sim, spec, "id"), methods=["GET"]),
        Route("/v2.0/agents/{id}", update_agent, methods=["PUT"]),
        Route("/v2.0/agents/{id}", delete_agent, methods=["DELETE"]),
    ]
