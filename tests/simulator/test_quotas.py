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
