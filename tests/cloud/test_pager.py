"""The cloud layer against the simulator over HTTP through unmodified openstacksdk: pagination,
microversions, retries, re-authentication, error translation, connection sources."""

from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path

import pytest

from app.cloud.connection import CloudClient, http_status
from app.cloud.pager import get_one, iter_pages, next_query
from app.errors import NotFound, NotPermitted, UpstreamUnavailable
from app.resources.registry import get_spec
from tests.sync.helpers import count_requests, make_settings


def test_next_query_link_styles() -> None:
    nova = {"servers_links": [{"rel": "next", "href": "https://x/compute/v2.1/servers/detail?limit=2&marker=abc"}]}
    assert next_query(nova, "servers") == [("limit", "2"), ("marker", "abc")]
    glance = {"next": "/v2/images?marker=m1&limit=5"}
    assert next_query(glance, "images") == [("marker", "m1"), ("limit", "5")]
    keystone = {"links": {"self": "x", "next": "http://k/v3/users?page=2"}}
    assert next_query(keystone, "users") == [("page", "2")]
    assert next_query({"links": {"next": None}}, "users") is None
    assert next_query({"servers_links": [{"rel": "self", "href": "x"}]}, "servers") is None


async def test_listing_streams_every_page(make_sim, make_stack) -> None:
    sim = make_sim(servers=45)
    st = await make_stack(sim, page_size=7)
    spec = get_spec("servers")
    pages = [p async for p in iter_pages(st.cloud, spec.listing, page_size=7)]
    ids = [s["id"] for p in pages for s in p.items]
    live = sim.state.count("servers")
    assert len(ids) == len(set(ids)) == live
    assert len(pages) in (math.ceil(live / 7), math.ceil(live / 7) + 1)
    assert all(len(p.items) <= 7 for p in pages)


@pytest.mark.parametrize(("release", "expected"), [("train", "2.79"), ("wallaby", "2.88"), ("epoxy", "2.100")])
async def test_max_microversion_is_min_of_cloud_and_sdk(make_sim, make_stack, release, expected) -> None:
    st = await make_stack(make_sim(servers=5, release=release))
    assert await st.cloud.microversion("compute", "max") == expected
    assert await st.cloud.microversion("compute", "2.1") == "2.1"
    assert await st.cloud.microversion("compute", None) is None


async def test_503_burst_is_retried(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim)
    counter = count_requests(sim)
    sim.inject(r"/flavors/detail$", status=503, count=3)
    resp = await st.cloud.get_json("compute", "/flavors/detail")
    assert resp.body["flavors"]
    assert counter.hits(r"/flavors/detail$") == 4


async def test_429_is_retried(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim)
    sim.inject(r"/flavors/detail$", status=429, count=2)
    assert (await st.cloud.get_json("compute", "/flavors/detail")).body["flavors"]


async def test_expired_token_reauthenticates(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim)
    counter = count_requests(sim)
    await st.cloud.get_json("compute", "/flavors/detail")
    tokens_before = counter.hits(r"/auth/tokens$", "POST")
    sim.expire_tokens()
    assert (await st.cloud.get_json("compute", "/flavors/detail")).body["flavors"]
    assert counter.hits(r"/auth/tokens$", "POST") == tokens_before + 1


async def test_errors_are_translated(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim)
    sim.inject(r"/flavors/detail$", status=403, count=1)
    with pytest.raises(NotPermitted) as forbidden:
        await st.cloud.get_json("compute", "/flavors/detail")
    assert http_status(forbidden.value) == 403
    sim.inject(r"/flavors/detail$", status=500, count=1)
    with pytest.raises(UpstreamUnavailable) as failed:
        await st.cloud.get_json("compute", "/flavors/detail")
    assert failed.value.status == 500 and failed.value.request_id


async def test_get_one_and_404(make_sim, make_stack) -> None:
    sim = make_sim(servers=5)
    st = await make_stack(sim)
    spec = get_spec("servers")
    sid = next(iter(sim.state.coll("servers")))
    raw = await get_one(st.cloud, spec, sid)
    assert raw is not None and raw["id"] == sid
    assert await get_one(st.cloud, spec, "00000000-0000-4000-8000-000000000000") is None


async def test_calls_run_on_worker_threads(make_sim, make_stack) -> None:
    st = await make_stack(make_sim(servers=1), sdk_concurrency=2)
    name = await st.cloud.run(lambda: threading.current_thread().name, doing="test")
    assert name.startswith("openstacksdk") and name != threading.main_thread().name


def test_connection_options_reach_the_sdk(make_sim, tmp_path: Path) -> None:
    sim = make_sim(servers=1)
    client = CloudClient.from_settings(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", api_timeout=7),
                                       **sim.connect_kwargs())
    cfg = client.conn.config
    assert client.conn.session.timeout == 7
    assert cfg.get_status_code_retries("compute") == 5
    assert cfg.get_connect_retries("compute") == 3
    assert cfg.get_retriable_status_codes("compute") == [429, 502, 503, 504]
    assert cfg.config.get("verify") is True
    client.conn.close()


async def test_connection_from_os_env_and_clouds_yaml(make_sim, tmp_path: Path, monkeypatch) -> None:
    sim = make_sim(servers=1)
    for k in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in sim.os_env().items():
        monkeypatch.setenv(k, v)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    client = CloudClient.from_settings(settings)
    assert (await client.get_json("compute", "/flavors/detail")).body["flavors"]
    await client.close()
    for k in sim.os_env():
        monkeypatch.delenv(k)
    (tmp_path / "clouds.yaml").write_text(sim.clouds_yaml("simcloud"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    client = CloudClient.from_settings(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", os_cloud="simcloud"))
    assert (await client.get_json("compute", "/flavors/detail")).body["flavors"]
    await client.close()


async def test_enrich_on_another_service_and_optional_misses(make_sim, make_stack) -> None:
    """Listing.enrich may read another service per object (a project's compute quotas), and an
    optional sub-request that 404s stores None instead of failing the listing."""
    from app.resources.base import Enrich, Listing

    sim = make_sim(servers=5)
    st = await make_stack(sim)
    listing = Listing(service="identity", path="/projects", collection="projects", paginated=False, enrich={
        "compute_quota": Enrich("compute", "/os-quota-sets/{id}/detail"),
        "nothing": Enrich("compute", "/os-no-such-api/{id}", optional=True),
    })
    pages = [p async for p in iter_pages(st.cloud, listing, page_size=100)]
    projects = [p for page in pages for p in page.items]
    assert projects and all(p["nothing"] is None for p in projects)
    assert all(p["enrich_unavailable"] == {"nothing": "compute does not know it (404: API or extension missing)"}
               for p in projects)
    assert all(p["compute_quota"]["quota_set"]["id"] == p["id"] for p in projects)
    assert all("limit" in p["compute_quota"]["quota_set"]["instances"] for p in projects)

    # a query on the sub-request (Cinder's usage=True), a refusal and a missing service are told apart
    sim.inject(r"/quotas/.*/details", status=403)
    mixed = Listing(service="identity", path="/projects", collection="projects", paginated=False, enrich={
        "volume_quota": Enrich("block_storage", "/os-quota-sets/{id}", params=(("usage", "True"),)),
        "network_quota": Enrich("network", "/quotas/{id}/details", optional=True),
        "dns": Enrich("dns", "/quotas/{id}", optional=True),
    })
    projects = [p for page in [p async for p in iter_pages(st.cloud, mixed, page_size=100)] for p in page.items]
    assert all(isinstance(p["volume_quota"]["quota_set"]["volumes"], dict) for p in projects)  # with usage
    assert all(p["network_quota"] is None and p["dns"] is None for p in projects)
    assert projects[0]["enrich_unavailable"] == {
        "network_quota": "network refused it (403: not permitted for these credentials)",
        "dns": "the cloud offers no dns service"}

    strict = Listing(service="identity", path="/projects", collection="projects", paginated=False,
                     enrich={"nothing": Enrich("compute", "/os-no-such-api/{id}")})
    with pytest.raises(NotFound):
        [p async for p in iter_pages(st.cloud, strict, page_size=100)]


async def test_the_next_page_is_prepared_while_the_caller_holds_the_current_one(make_sim, make_stack) -> None:
    """``prepare`` runs in the prefetch: page 2's items are prepared before the caller is done with page 1
    (the caller waits for that state; a pager that prepared on demand would never reach it), and each
    page carries what ``prepare`` returned for its own items, not the items themselves."""
    sim = make_sim(servers=12)
    st = await make_stack(sim, page_size=5)
    prepared_pages: list[list[str]] = []
    second = asyncio.Event()

    async def prepare(items: list[dict]) -> list[str]:
        prepared_pages.append([i["id"] for i in items])
        if len(prepared_pages) == 2:
            second.set()
        return [i["id"] for i in items]

    pages = []
    async for page in iter_pages(st.cloud, get_spec("servers").listing, page_size=5, prepare=prepare):
        if page.number == 1:
            await asyncio.wait_for(second.wait(), 60)  # a state to reach; the bound only ends a hang
        assert page.items == []
        pages.append(page)
    assert [p.prepared for p in pages] == prepared_pages
    ids = [i for p in pages for i in p.prepared]
    assert len(ids) == len(set(ids)) == sim.state.count("servers")
