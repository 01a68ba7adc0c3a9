"""Simulator core: state, clock, knobs (latency, faults, token lifetime) and auth.

Every OpenStack service of the simulator lives in its own module (``keystone.py``, ``nova.py``, ...)
that exposes ``SERVICE: ServiceDef``; ``asgi.build_app`` mounts them all under one port, devstack
style (``/identity``, ``/compute``, ``/network``, ``/volume``, ``/image``, ``/heat-api``,
``/placement``, ``/load-balancer``), and the Keystone catalog points at those prefixes.

State is plain API-shaped dicts (what the newest microversion would return), kept per kind in
insertion order in :class:`SimState`. Keys starting with ``_`` are internal and never rendered.
Time-based transitions (BUILD -> ACTIVE, creating -> available, ...) are lazy: a record carries
``_pending`` steps that :meth:`Simulator.settle` applies when the record is next read.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from starlette.applications import Starlette

from app.simulator.state import SimState

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

# Handler helpers live in web.py; re-exported here, where the service modules import them from.
from app.simulator.web import (  # noqa: F401
    SimHTTPError,
    error_response,
    json_body,
    paginate,
    public,
    read_json,
    request_id,
)

T = TypeVar("T")

# ----------------------------------------------------------------------------------------------
# Time and ids


def iso(ts: float | None) -> str | None:
    """OpenStack's usual timestamp format: ``2026-11-23T10:00:00Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(ts: float | None) -> str | None:
    """Timestamp with microseconds and no zone (Nova hypervisor/service style: ``2026-11-23T10:00:00.000000``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_iso(value: str) -> float:
    v = value.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def new_id(rng: random.Random | None = None) -> str:
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ----------------------------------------------------------------------------------------------
# Knobs


@dataclass
class FaultRule:
    """Inject a failure into requests whose path matches ``pattern`` (a regex searched in the path).

    ``action``: ``status`` answers ``status`` with an OpenStack-style error body; ``drop`` starts a
    response and cuts the connection mid-body; ``hang`` sleeps ``delay`` seconds before answering
    normally; ``malformed`` answers 200 with a body that is not JSON; ``truncate`` answers 200 with
    the first half of the real JSON body. ``rate`` is the probability per matching request;
    ``count`` (if set) limits how many requests the rule fires on, after which it is spent.
    """

    pattern: str
    status: int = 503
    rate: float = 1.0
    count: int | None = None
    method: str | None = None
    action: Literal["status", "drop", "hang", "malformed", "truncate"] = "status"
    delay: float = 30.0
    fired: int = 0

    def matches(self, method: str, path: str, rng: random.Random) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if not re.search(self.pattern, path):
            return False
        return self.rate >= 1.0 or rng.random() < self.rate


@dataclass
class TokenInfo:
    token: str
    user_id: str
    project_id: str | None
    domain_id: str | None
    expires_at: float
    issued_at: float
    methods: list[str]
    roles: list[dict[str, str]]
    app_cred_id: str | None = None


@dataclass
class ServiceDef:
    """One OpenStack service: catalog entry (``type``/``name``/``path``) and its routes.

    ``path`` is the catalog endpoint path; it may contain ``{project_id}``. ``routes`` are mounted at
    ``mount`` (the path prefix, without project id). ``public`` lists route-relative regexes that
    need no token (version documents).
    """

    type: str
    name: str
    mount: str
    path: str
    routes: Callable[[Simulator], list[BaseRoute]]
    public: tuple[str, ...] = ()
    extra_types: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# The simulator


class Simulator:
    """One simulated cloud: state + knobs + the ASGI app.

    Knobs (all may be changed at run time, e.g. from a test):
      * ``latency``: seconds added to every request (``await asyncio.sleep``).
      * ``faults``: list of :class:`FaultRule` (see :meth:`inject`).
      * ``token_ttl``: lifetime of issued tokens in seconds (401 after expiry).
      * ``transition_seconds``: how long state transitions take (BUILD->ACTIVE, stop, reboot, ...).
      * ``release``: a :class:`app.simulator.releases.Release` (microversion range and behaviour).
      * the clock: :meth:`now` is wall time plus ``clock_offset``; :meth:`freeze` stops it (tests then
        move it only with :meth:`advance`, so transitions happen exactly when the test says), :meth:`unfreeze`
        lets it run again from where it stood.
      * ``disabled_services``: catalog types the cloud does not offer (e.g. ``{"load-balancer"}``).
      * Nova's network info cache: ``hold_network_events`` (Nova keeps showing a server's old addresses after
        a floating IP change until :meth:`deliver_network_events`) or ``network_event_delay`` (simulated
        seconds until Nova's cache catches up); see :func:`app.simulator.neutron.pin_nova_addresses`.
    """

    def __init__(
        self,
        *,
        release: str = "epoxy",
        seed: int = 42,
        servers: int = 200,
        latency: float = 0.0,
        token_ttl: float = 3600.0,
        transition_seconds: float = 1.0,
        username: str = "admin",
        password: str = "secret",
        project_name: str = "admin",
        region: str = "RegionOne",
        churn_interval: float | None = None,
        populate: bool = True,
    ) -> None:
        from app.simulator.releases import get_release

        self.release = get_release(release)
        self.seed = seed
        self.rng = random.Random(seed)
        self.fault_rng = random.Random(seed + 1)
        self.state = SimState()
        self.latency = latency
        self.token_ttl = token_ttl
        self.transition_seconds = transition_seconds
        self.username = username
        self.password = password
        self.project_name = project_name
        self.region = region
        self.churn_interval = churn_interval
        self.faults: list[FaultRule] = []
        self.tokens: dict[str, TokenInfo] = {}
        self.base_url = "http://127.0.0.1:0"
        self.clock_offset = 0.0
        self._frozen_at: float | None = None
        self._memo: dict[str, tuple[int, float, Any, Any]] = {}
        self.hold_network_events = False
        self.network_event_delay = 0.0
        self.request_log: list[tuple[str, str, int]] = []
        self.log_requests = False
        self.n_servers = servers
        # Catalog types left out of the catalog (and unmounted if set before the app is built): a cloud
        # without that service, e.g. {"load-balancer"}.
        self.disabled_services: set[str] = set()
        if populate:
            from app.simulator.fleet import generate_fleet

            generate_fleet(self, servers)

    # --- time -----------------------------------------------------------------------------
    def now(self) -> float:
        frozen = self._frozen_at
        return (time.time() if frozen is None else frozen) + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (pending transitions become due)."""
        self.clock_offset += seconds

    def freeze(self) -> None:
        """Stop the clock: nothing time-based happens (transitions, token expiry) until :meth:`advance`."""
        if self._frozen_at is None:
            self._frozen_at = time.time()

    def unfreeze(self) -> None:
        """Let the clock run again from the simulated time it stands at (no jump)."""
        frozen = self._frozen_at
        if frozen is not None:
            self.clock_offset -= time.time() - frozen
            self._frozen_at = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def deliver_network_events(self) -> int:
        """Nova processes the queued network-changed events: every server's addresses follow Neutron again.
        Returns how many servers had a stale view."""
        n = 0
        for s in list(self.state.values("servers")):
            if s.pop("_addr_cache", None) is not None:
                n += 1
        return n

    def schedule(self, record: dict[str, Any], changes: dict[str, Any], after: float | None = None) -> None:
        """Apply ``changes`` to ``record`` once ``after`` seconds (default: ``transition_seconds``) have
        passed since the previous pending step (steps chain)."""
        pending = record.setdefault("_pending", [])
        self.state.version += 1
        base = pending[-1][0] if pending else self.now()
        pending.append((base + (self.transition_seconds if after is None else after), changes))

    @staticmethod
    def next_due(record: dict[str, Any], due: float) -> float:
        """The earlier of ``due`` and when ``record``'s next pending step applies."""
        pending = record.get("_pending")
        return min(due, pending[0][0]) if pending else due

    def settle(self, record: dict[str, Any]) -> dict[str, Any]:
        """Apply every due pending step of ``record`` (lazy state machine). Returns the record."""
        pending = record.get("_pending")
        if pending:
            now = self.now()
            while pending and pending[0][0] <= now:
                self.state.version += 1
                ready_at, changes = pending.pop(0)
                for k, v in changes.items():
                    if callable(v):
                        v(record)
                    else:
                        record[k] = v
                record["updated"] = iso(ready_at) if "updated" in record else record.get("updated")
                if "updated_at" in record:
                    record["updated_at"] = iso(ready_at)
            if not pending:
                record.pop("_pending", None)
        return record

    def memo(self, name: str, compute: Callable[[], tuple[T, float]], key: Any = None, fresh: bool = False) -> T:
        """A fleet-wide answer (per-project usage, a listing being paged through, ...) computed once per
        state version instead of on every request: real services answer such questions from indexed
        tables, so a client listing a thousand projects must not pay a fleet scan per project here.
        ``compute`` returns the value and the earliest time a pending step of a record it read becomes
        due (``math.inf`` if none): the value is recomputed from then on, as the lazy steps it would
        have seen apply. One slot per ``name``: a different ``key`` (the question's parameters), or
        ``fresh``, computes anew."""
        hit = self._memo.get(name)
        if (not fresh and hit is not None and hit[0] == self.state.version and self.now() < hit[1]
                and hit[2] == key):
            return hit[3]  # type: ignore[no-any-return]
        value, due = compute()
        self._memo[name] = (self.state.version, due, key, value)  # after: steps ``compute`` applied are in it
        return value

    # --- knobs ----------------------------------------------------------------------------
    def inject(self, pattern: str, **kwargs: Any) -> FaultRule:
        """Add a :class:`FaultRule`; e.g. ``sim.inject(r"/servers/detail", status=500, count=1)``."""
        rule = FaultRule(pattern=pattern, **kwargs)
        self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_tokens(self) -> None:
        """Expire every issued token now (next request gets 401, clients re-authenticate)."""
        for t in self.tokens.values():
            t.expires_at = self.now() - 1

    # --- catalog ----------------------------------------------------------------------------
    def services(self) -> list[ServiceDef]:
        from app.simulator import cinder, glance, heat, keystone, neutron, nova, octavia, placement

        return [m.SERVICE for m in (keystone, nova, neutron, cinder, glance, heat, placement, octavia)
                if m.SERVICE.type not in self.disabled_services]

    def endpoint(self, service_type: str, project_id: str | None = None) -> str:
        for s in self.services():
            if s.type == service_type or service_type in s.extra_types:
                return self.base_url + s.path.replace("{project_id}", project_id or "")
        raise KeyError(service_type)

    @property
    def auth_url(self) -> str:
        return self.base_url + "/identity/v3"

    def clouds_yaml(self, cloud: str = "simulator") -> str:
        return (
            "clouds:\n"
            f"  {cloud}:\n"
            "    auth:\n"
            f"      auth_url: {self.auth_url}\n"
            f"      username: {self.username}\n"
            f"      password: {self.password}\n"
            f"      project_name: {self.project_name}\n"
            "      user_domain_name: Default\n"
            "      project_domain_name: Default\n"
            f"    region_name: {self.region}\n"
            "    identity_api_version: 3\n"
        )

    def os_env(self) -> dict[str, str]:
        return {
            "OS_AUTH_URL": self.auth_url,
            "OS_USERNAME": self.username,
            "OS_PASSWORD": self.password,
            "OS_PROJECT_NAME": self.project_name,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_REGION_NAME": self.region,
            "OS_IDENTITY_API_VERSION": "3",
        }

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``openstack.connect(**sim.connect_kwargs())``."""
        return {
            "auth_url": self.auth_url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": self.region,
            "identity_api_version": "3",
        }

    # --- auth -------------------------------------------------------------------------------
    def check_token(self, token: str | None) -> TokenInfo | None:
        if not token:
            return None
        info = self.tokens.get(token)
        if info is None or info.expires_at <= self.now():
            return None
        return info

    # --- app ----------------------------------------------------------------------------------
    def build_app(self) -> Starlette:
        from app.simulator.asgi import build_app

        return build_app(self)
