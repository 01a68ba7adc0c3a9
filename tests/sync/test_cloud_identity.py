"""Two clouds never share a label (issue 9, item 5): the label is derived from the cloud's identity,
and a label recorded for one cloud is refused to a server configured for another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cloud.identity import CloudIdentity, derive_label
from app.context import open_app_context
from app.errors import Conflict
from tests.sync.helpers import make_settings, query


async def test_two_clouds_one_database_get_labels_of_their_own(make_sim: Any, db_url: str) -> None:
    prod, staging = make_sim(servers=6, seed=1), make_sim(servers=4, seed=2)
    labels = []
    for sim in (prod, staging):
        settings = make_settings(db_url, cloud_name="", poller_enabled=False)
        async with open_app_context(settings, **sim.connect_kwargs()) as app:
            assert (await app.sync.full_sync("servers")).ok
            labels.append(app.cloud_name)
    port = prod.connect_kwargs()["auth_url"].split(":")[2].split("/")[0]
    assert labels[0] == f"127.0.0.1-{port}-RegionOne-admin" and labels[0] != labels[1]
    counts = dict(query(db_url, "SELECT cloud, count(*) FROM servers WHERE deleted_at IS NULL GROUP BY cloud"))
    assert counts == {labels[0]: 6, labels[1]: 4}
    # Each label is bound to its own cloud: staging under prod's label is refused, nothing is written.
    settings = make_settings(db_url, cloud_name=labels[0], poller_enabled=False)
    with pytest.raises(Conflict, match="already holds cloud label") as err:
        async with open_app_context(settings, **staging.connect_kwargs()):
            pass
    assert "OPS_CLOUD_LABEL" in str(err.value) and prod.password not in str(err.value)
    assert dict(query(db_url, "SELECT cloud, count(*) FROM servers WHERE deleted_at IS NULL GROUP BY cloud")) == counts
    fingerprints = query(db_url, "SELECT cloud, auth_url FROM cloud_identities ORDER BY cloud")
    assert len(fingerprints) == 2


async def test_the_clouds_yaml_entry_names_the_label(make_sim: Any, db_url: str, tmp_path: Path,
                                                     monkeypatch: Any) -> None:
    sim = make_sim(servers=3)
    kw = sim.connect_kwargs()
    entry = {"auth": {k: kw[k] for k in ("auth_url", "username", "password", "project_name", "user_domain_name",
                                         "project_domain_name")},
             "region_name": kw["region_name"], "identity_api_version": 3}
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"staging-eu": entry}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    settings = make_settings(db_url, cloud_name="", os_cloud="staging-eu", poller_enabled=False)
    async with open_app_context(settings) as app:
        assert app.cloud_name == "staging-eu"
        assert (await app.sync.full_sync("flavors")).ok


def test_derived_labels_are_safe_and_bounded() -> None:
    long = CloudIdentity("https://keystone." + "x" * 80 + ".example:5000/v3", "Region One", "Default/ops", None)
    label = derive_label(long)
    assert len(label) == 64 and label.endswith(long.fingerprint[:8])
    assert set(label) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    assert derive_label(CloudIdentity("http://keystone:5000/v3", "", "admin-project", "my cloud/1")) == "my-cloud-1"
