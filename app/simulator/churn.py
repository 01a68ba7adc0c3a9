"""Churn for demos and freshness tests: every ``sim.churn_interval`` seconds one server is created, one
goes ERROR and one is deleted, through the same functions the compute API uses."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from app.simulator.core import SimHTTPError, Simulator

log = logging.getLogger(__name__)


def churn_once(sim: Simulator, rng: random.Random) -> dict[str, Any]:
    """One churn round; returns ``{"created": id, "failed": id, "deleted": id}`` (values may be None)."""
    from app.simulator.nova_create import create_server
    from app.simulator.nova_actions import delete_server, fail_server

    out: dict[str, Any] = {"created": None, "failed": None, "deleted": None}
    sim.state.touch()  # records change in place below
    with sim.state.lock:
        servers = sim.state.coll("servers")
        live = [s for s in servers.values() if s["status"] in ("ACTIVE", "SHUTOFF")]
        projects = [p for p in sim.state.values("projects") if p["name"] != "service"]
        flavors = [f for f in sim.state.values("flavors") if f["os-flavor-access:is_public"] and f["ram"] <= 8192]
        images = [i["id"] for i in sim.state.values("images") if i.get("status", "active") == "active"]
        if projects and flavors and images:
            p = rng.choice(projects)
            user = next((a["user_id"] for a in sim.state.values("role_assignments")
                         if a["project_id"] == p["id"] and a.get("user_id")), "")
            seq = getattr(sim, "_nova_seq", 0) + 1
            try:
                rec, _ = create_server(sim, p["id"], user, {
                    "name": f"{p['name'].split('-')[0]}-churn-{seq:05d}", "flavorRef": rng.choice(flavors)["id"],
                    "imageRef": rng.choice(images), "networks": "auto", "metadata": {"origin": "churn"}})
                out["created"] = rec["id"]
            except SimHTTPError as e:
                log.warning("churn: create failed: %s", e.message)
        if len(live) >= 2:
            victim, doomed = rng.sample(live, 2)
            fail_server(sim, victim, "Instance crashed: libvirt reported guest kernel panic "
                                     "(internal error: qemu unexpectedly closed the monitor)")
            out["failed"] = victim["id"]
            delete_server(sim, doomed)
            out["deleted"] = doomed["id"]
    return out


async def run_churn(sim: Simulator) -> None:
    rng = random.Random(f"{sim.seed}:churn")
    interval = sim.churn_interval or 0
    while interval > 0:
        await asyncio.sleep(interval)
        try:
            ev = churn_once(sim, rng)
            log.info("churn: %s", ev)
        except Exception:  # noqa: broad - the churn job's wrapper: log the round, keep churning
            log.exception("churn round failed")
        interval = sim.churn_interval or 0
