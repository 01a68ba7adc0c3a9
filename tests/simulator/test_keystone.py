"""Keystone v3 simulator, driven through openstacksdk/keystoneauth."""

from __future__ import annotations

from typing import Any

import openstack
import pytest
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions


def test_catalog_lists_every_service_with_three_interfaces(sim: Any, conn: Any) -> None:
    access = conn.session.auth.get_access(conn.session)
    catalog = access.service_catalog.catalog
    types = {e["type"] for e in catalog}
    assert {"identity", "compute", "network", "block-storage", "volumev3", "image", "orchestration",
            "placement"} <= types
    for entry in catalog:
        assert {ep["interface"] for ep in entry["endpoints"]} == {"public", "internal", "admin"}
        assert all(ep["region"] == sim.region and ep["url"].startswith(sim.base_url) for ep in entry["endpoints"])
    volume = next(e for e in catalog if e["type"] == "block-storage")
    assert volume["endpoints"][0]["url"].endswith("/volume/v3/" + access.project_id)
    assert access.project_name == "admin" and "admin" in access.role_names
    assert access.expires is not None
    # the issued token validates (GET /v3/auth/tokens with X-Subject-Token)
    tok = conn.session.get_token()
    resp = conn.identity.get("/auth/tokens", headers={"X-Subject-Token": tok})
    assert resp.status_code == 200 and resp.headers["X-Subject-Token"] == tok
    assert resp.json()["token"]["project"]["name"] == "admin"


def test_bad_password_is_401_with_identity_error_body(sim: Any) -> None:
    kwargs = sim.connect_kwargs() | {"password": "wrong"}
    c = openstack.connect(**kwargs)
    with pytest.raises(ks_exc.Unauthorized) as ei:
        list(c.compute.flavors())
    assert ei.value.http_status == 401
    assert ei.value.response.json() == {"error": {"code": 401, "title": "Unauthorized", "message":
                                                  "The request you have made requires authentication."}}


def test_users_never_expose_passwords_but_carry_email(sim: Any, conn: Any) -> None:
    users = list(conn.identity.users())
    assert len(users) == sim.state.count("users") >= 5
    raw = conn.identity.get("/users").json()["users"]
    assert all("password" not in u and "_password" not in u for u in raw)
    admin = next(u for u in raw if u["name"] == "admin")
    assert admin["email"] == "admin@example.org" and admin["domain_id"] == "default"
    assert admin["links"]["self"].endswith("/identity/v3/users/" + admin["id"])


def test_projects_domains_roles_groups(sim: Any, conn: Any) -> None:
    projects = list(conn.identity.projects())
    assert len(projects) >= 3 and any(p.name == "admin" for p in projects)
    assert [d.name for d in conn.identity.domains()] == ["Default"]
    assert {r.name for r in conn.identity.roles()} == {"admin", "member", "reader"}
    assert len(list(conn.identity.groups())) == 2
    p = conn.identity.find_project("admin")
    assert conn.identity.get_project(p.id).name == "admin"
    with pytest.raises(exceptions.NotFoundException):
        conn.identity.get_project("does-not-exist")


def test_role_assignments_filters_and_names(sim: Any, conn: Any) -> None:
    admin_project = conn.identity.find_project("admin")
    admin_user = conn.identity.find_user("admin")
    all_ra = list(conn.identity.role_assignments())
    assert len(all_ra) == sim.state.count("role_assignments")
    scoped = list(conn.identity.role_assignments(scope_project_id=admin_project.id, include_names=True))
    assert scoped and all(ra.scope["project"]["id"] == admin_project.id for ra in scoped)
    assert all(ra.scope["project"]["name"] == "admin" for ra in scoped)
    mine = [ra for ra in scoped if ra.user and ra.user["id"] == admin_user.id]
    assert mine and mine[0].role["name"] == "admin" and mine[0].user["name"] == "admin"
    by_user = list(conn.identity.role_assignments(user_id=admin_user.id))
    assert len(by_user) == sim.state.count("projects")  # admin is admin everywhere
    assert any(ra.group for ra in all_ra)  # group assignments exist


def test_application_credential_authenticates(sim: Any, conn: Any) -> None:
    user_id = conn.session.auth.get_access(conn.session).user_id
    cred = conn.identity.create_application_credential(user=user_id, name="ci-bot")
    assert cred.secret and cred.project_id
    listed = list(conn.identity.application_credentials(user=user_id))
    assert [c.name for c in listed] == ["ci-bot"]
    raw = conn.identity.get(f"/users/{user_id}/application_credentials").json()
    assert "secret" not in raw["application_credentials"][0]
    c2 = openstack.connect(auth_type="v3applicationcredential", auth_url=sim.auth_url,
                           application_credential_id=cred.id, application_credential_secret=cred.secret,
                           region_name=sim.region)
    assert len(list(c2.compute.flavors())) > 0
    bad = openstack.connect(auth_type="v3applicationcredential", auth_url=sim.auth_url,
                            application_credential_id=cred.id, application_credential_secret="nope",
                            region_name=sim.region)
    with pytest.raises(ks_exc.Unauthorized):
        list(bad.compute.flavors())
