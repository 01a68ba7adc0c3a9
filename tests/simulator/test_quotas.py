"""The simulator's one quota model: Nova's ``/limits`` and ``os-quota-sets/{id}/detail`` report the same
limits and usage (as real Nova does: tests/integration/test_real_quotas.py), with the keys real Nova
shows at each microversion; openstacksdk reads both unmodified."""

from __future__ import annotations

from typing import Any

import pytest

# /limits "absolute" keys of real Nova (2026.1, with Neutron), read from ../shared/real-openstack
REAL_ABSOLUTE_KEYS = {
    "2.100": {"maxServerGroupMembers", "maxServerGroups", "maxServerMeta", "maxTotalCores", "maxTotalInstances",
              "maxTotalKeypairs", "maxTotalRAMSize", "totalCoresUsed", "totalInstancesUsed", "totalRAMUsed",
              "totalServerGroupsUsed"},
}
REAL_ABSOLUTE_KEYS["2.57"] = REAL_ABSOLUTE_KEYS["2.100"]
REAL_ABSOLUTE_KEYS["2.39"] = REAL_ABSOLUTE_KEYS["2.57"] | {"maxPersonality", "maxPersonalitySize"}
REAL_ABSOLUTE_KEYS["2.36"] = REAL_ABSOLUTE_KEYS["2.39"] | {"maxImageMeta"}
REAL_ABSOLUTE_KEYS["2.1"] = REAL_ABSOLUTE_KEYS["2.36"] | {
    "maxSecurityGroupRules", "maxSecurityGroups", "maxTotalFloatingIps", "totalFloatingIpsUsed",
    "totalSecurityGroupsUsed"}
PAIRS = {"instances": ("maxTotalInstances", "totalInstancesUsed"), "cores": ("maxTotalCores", "totalCoresUsed"),
         "ram": ("maxTotalRAMSize", "totalRAMUsed"), "server_groups": ("maxServerGroups", "totalServerGroupsUsed"),
         "key_pairs": ("maxTotalKeypairs", None), "metadata_items": ("maxServerMeta", None),
         "server_group_members": ("maxServerGroupMembers", None)}


@pytest.mark.parametrize("mv", sorted(REAL_ABSOLUTE_KEYS))
def test_limits_and_quota_sets_agree(sim: Any, conn: Any, mv: str) -> None:
    web = next(p for p in sim.state.values("projects") if p["name"] == "web")
    absolute = conn.compute.get(f"/limits?tenant_id={web['id']}", microversion=mv).json()["limits"]["absolute"]
    assert set(absolute) == REAL_ABSOLUTE_KEYS[mv]
    quota = conn.compute.get(f"/os-quota-sets/{web['id']}/detail", microversion=mv).json()["quota_set"]
    for res, (limit_name, used_name) in PAIRS.items():
        assert absolute[limit_name] == quota[res]["limit"], res
        if used_name:
            assert absolute[used_name] == quota[res]["in_use"], res
    if mv == "2.1":  # the proxied network quotas: unlimited with Neutron, as in real Nova
        assert absolute["maxSecurityGroups"] == absolute["maxTotalFloatingIps"] == -1
        assert absolute["maxImageMeta"] == quota["metadata_items"]["limit"]


def test_a_lowered_limit_shows_in_both_and_in_openstacksdk(sim: Any, conn: Any) -> None:
    admin_project = conn.current_project_id
    conn.compute.get(f"/os-quota-sets/{admin_project}/detail")  # the model computes its limits
    sim.quota_limits[("compute", admin_project)]["instances"] = 3
    limits = conn.compute.get_limits()  # openstacksdk's own Limits resource, unmodified
    assert limits.absolute.instances == 3
    qs = conn.compute.get_quota_set(admin_project, usage=True)
    assert qs.instances == 3 and qs.usage["instances"] == limits.absolute.instances_used


def test_usage_follows_writes_and_transitions_that_fall_due(sim: Any, conn: Any) -> None:
    """Usage is counted once per state version (a client asking for every project's quota must not pay a
    fleet scan per project), yet every write and every lazy transition that falls due shows at once."""
    pid = conn.current_project_id
    sim.freeze()

    def used() -> dict[str, int]:
        qs = conn.block_storage.get(f"/os-quota-sets/{pid}?usage=True").json()["quota_set"]
        return {res: qs[res]["in_use"] for res in ("volumes", "gigabytes")}

    before = used()
    vol = conn.block_storage.create_volume(size=3, name="memo-probe")
    assert used() == {"volumes": before["volumes"] + 1, "gigabytes": before["gigabytes"] + 3}
    sim.advance(1)
    assert conn.block_storage.get_volume(vol.id).status == "available"
    conn.block_storage.delete_volume(vol.id)
    assert used()["volumes"] == before["volumes"] + 1  # "deleting" still counts, as in Cinder
    sim.advance(1)  # the deletion falls due: no request changed anything since the last count
    assert used() == before


def test_counted_usage_equals_a_scan_of_every_project(sim: Any) -> None:
    from app.simulator.quotas import cinder_usage, neutron_usage, nova_usage

    flavors = {f["id"]: f for f in sim.state.values("flavors")}
    for p in sim.state.values("projects"):
        mine = [s for s in sim.state.values("servers")
                if s["tenant_id"] == p["id"] and s["OS-EXT-STS:vm_state"] not in ("deleted", "soft-delete")]
        assert nova_usage(sim, p["id"]) == {"instances": len(mine),
                                            "cores": sum(flavors[s["_flavor"]]["vcpus"] for s in mine),
                                            "ram": sum(flavors[s["_flavor"]]["ram"] for s in mine)}
        assert neutron_usage(sim, p["id"])["port"] == sum(
            1 for r in sim.state.values("ports") if r.get("project_id") == p["id"])
        vols = [v for v in sim.state.values("volumes") if v["os-vol-tenant-attr:tenant_id"] == p["id"]]
        assert cinder_usage(sim, p["id"])["gigabytes"] == sum(v["size"] for v in vols) + sum(
            s["size"] for s in sim.state.values("snapshots")
            if s.get("os-extended-snapshot-attributes:project_id") == p["id"])
