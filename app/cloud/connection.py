"""The async facade over one openstacksdk ``Connection``.

* Built from Settings: ``OS_CLOUD`` / clouds.yaml or the ``OS_*`` variables (openstacksdk reads them
  itself), or explicit keyword arguments (the simulator). TLS verification stays on unless the cloud
  config says otherwise; ``api_timeout`` bounds every request; keystoneauth retries 429/502/503/504
  (honouring ``Retry-After``, else exponential backoff) and connection failures; it re-authenticates
  once on a 401 (expired or revoked token) and reuses the token otherwise.
* Every blocking SDK call runs on a dedicated thread pool behind ``asyncio.Semaphore(sdk_concurrency)``.
* Every SDK/HTTP failure leaves as an :class:`app.errors.OpsError` via ``translate_sdk_error``; the
  original exception is chained (``__cause__``); :func:`http_status` and :func:`request_id_of` read it.
* Microversion ``"max"`` resolves per service to the highest version both the cloud (version
  discovery) and openstacksdk support; explicit versions are sent as given.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import pkgutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import requests
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

from app import jsonio
from app.config import Settings
from app.errors import InvalidArgument, OpsError, translate_sdk_error

log = logging.getLogger(__name__)

T = TypeVar("T")

STATUS_CODE_RETRIES = 5
CONNECT_RETRIES = 3
RETRIABLE_STATUS_CODES = [429, 502, 503, 504]
# Exceptions a blocking SDK/HTTP call may raise (anything else is a bug and propagates as is).
SDK_ERRORS: tuple[type[BaseException], ...] = (
    os_exc.SDKException, ks_exc.ClientException, requests.RequestException, ValueError,
)


def connection_options(settings: Settings) -> dict[str, Any]:
    """Timeouts and retry policy passed to ``openstack.connect`` (cloud-config keys)."""
    return {
        "api_timeout": settings.api_timeout,
        "status_code_retries": STATUS_CODE_RETRIES,
        "connect_retries": CONNECT_RETRIES,
        "retriable_status_codes": RETRIABLE_STATUS_CODES,
    }


def write_options(settings: Settings) -> dict[str, Any]:
    """The policy for writes: no automatic retry. A POST retried after a 503 or a dropped connection
    may already have been carried out (a second volume, a second image); a write that fails is
    reported as failed, and the caller decides."""
    return {**connection_options(settings), "status_code_retries": 0, "connect_retries": 0}


def build_connection(settings: Settings, *, for_writes: bool = False, **connect_kwargs: Any) -> Any:
    """An ``openstack.connection.Connection`` (lazy: nothing is sent until the first request).

    Without ``connect_kwargs`` the cloud comes from ``settings.os_cloud`` (clouds.yaml) or ``OS_*``."""
    import openstack

    opts = write_options(settings) if for_writes else connection_options(settings)
    try:
        if connect_kwargs:
            conn = openstack.connect(**{**opts, **connect_kwargs})
        else:
            conn = openstack.connect(cloud=settings.os_cloud, **opts)
        reauth_on_every_401(conn)
        return conn
    except (os_exc.ConfigException, ks_exc.auth_plugins.MissingRequiredOptions,
            ks_exc.auth_plugins.NoMatchingPlugin) as e:
        where = f"cloud {settings.os_cloud!r} in clouds.yaml" if settings.os_cloud else "the OS_* environment"
        raise InvalidArgument(
            f"No usable OpenStack credentials in {where}: {e}. Set OS_CLOUD to an entry of clouds.yaml, or "
            "OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME (or application credentials); "
            "or try the built-in demo cloud: mcp-openstack-ops demo."
        ) from e


def reauth_on_every_401(conn: Any) -> None:
    """Make keystoneauth retry *every* request that gets a 401 once, with a fresh token.

    keystoneauth retries a 401 only when ``auth.invalidate()`` reports it dropped a token; when a token
    expires under concurrent requests, the first one drops it and the others' invalidate() find nothing
    to drop and fail with 401 (3 of 4 concurrent requests, seen with the simulator's token expiry and
    in the soak on writes). Dropping the token (``auth_ref = None``) outside the plugin's lock also
    races with a thread that just fetched one (keystoneauth's ``assert self.auth_ref is not None``).
    So invalidate() here only marks the token stale, under the plugin's lock, and the next
    ``get_access`` (under the same lock) fetches a new one. A 401 is refused before anything happens,
    so the single retry is safe for writes too; it is per HTTP request, never a replay of a whole SDK
    call."""
    auth = getattr(getattr(conn, "session", None), "auth", None)
    lock = getattr(auth, "_lock", None)
    if auth is None or lock is None or getattr(auth, "_ops_reauth", False):
        return
    needs_reauthenticate = auth._needs_reauthenticate

    def invalidate() -> bool:
        with lock:
            auth._ops_stale = True
        return True

    def needs() -> bool:  # called by get_access with the lock held
        if auth._ops_stale:
            auth._ops_stale = False
            return True
        return bool(needs_reauthenticate())

    auth._ops_stale = False
    auth.invalidate = invalidate
    auth._needs_reauthenticate = needs
    auth._ops_reauth = True


@functools.lru_cache(maxsize=None)
def sdk_max_microversion(proxy_module: str) -> str | None:
    """Highest ``_max_microversion`` among openstacksdk's resources of the proxy's package."""
    from openstack import resource

    if not proxy_module.endswith("._proxy"):
        return None  # not a service proxy (e.g. the placeholder of a service missing from the catalog)
    package = importlib.import_module(proxy_module.rsplit(".", 1)[0])
    best: tuple[int, int] | None = None
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") and info.name != "_proxy":
            continue
        mod = importlib.import_module(f"{package.__name__}.{info.name}")
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            v = getattr(cls, "_max_microversion", None) if issubclass(cls, resource.Resource) else None
            if isinstance(v, str) and "." in v:
                major, minor = v.split(".", 1)
                t = (int(major), int(minor))
                best = t if best is None or t > best else best
    return f"{best[0]}.{best[1]}" if best else None


def credentials_label(conn: Any) -> str:
    """``user admin (domain Default) at http://keystone:5000/v3``: who we authenticate as, for error
    messages (no password, token or application-credential secret)."""
    try:
        auth = dict(conn.config.config.get("auth") or {})
    except AttributeError:
        return "our credentials"
    url = auth.get("auth_url") or "?"
    if auth.get("application_credential_id"):
        return f"application credential {auth['application_credential_id']} at {url}"
    user = auth.get("username") or auth.get("user_id") or "?"
    domain = auth.get("user_domain_name") or auth.get("user_domain_id")
    return f"user {user}" + (f" (domain {domain})" if domain else "") + f" at {url}"


def http_status(err: BaseException) -> int | None:
    """The HTTP status behind a translated error (from the chained SDK exception), if any."""
    status = getattr(err, "status", None)
    if isinstance(status, int):
        return status
    cause = err.__cause__
    code = getattr(cause, "status_code", None) or getattr(cause, "http_status", None)
    return int(code) if code else None


def request_id_of(err: BaseException) -> str | None:
    rid = getattr(err, "request_id", None) or getattr(err.__cause__, "request_id", None)
    return str(rid) if rid else None


@dataclass
class Response:
    body: Any
    request_id: str | None
    status: int
    # When the request was sent (naive UTC, taken on the worker thread just before it): the
    # observation time the snapshot writer orders writes by.
    sent_at: datetime | None = None


def _json_body(resp: requests.Response) -> Any:
    """The response's JSON (orjson: a full sync parses every page it lists, ~2x faster than the
    stdlib); what orjson would refuse or read differently (NaN, integers beyond 64 bits:
    :mod:`app.jsonio`) and what is not JSON at all are parsed as requests would."""
    try:
        return jsonio.loads(resp.content)
    except ValueError:
        return resp.json()


class CloudClient:
    """One cloud: ``await client.get_json("compute", "/flavors/detail", params=..., microversion="max")``.

    Use :meth:`from_settings` in the server; tests pass the simulator's ``connect_kwargs()``."""

    def __init__(self, conn: Any, settings: Settings, write_conn: Any = None, observer: Any = None) -> None:
        self.conn = conn
        # Told about every call through run(): ``observer.api_call(service, seconds, error)`` (the
        # server's metrics, passed down by app.context; this layer imports nothing above it).
        self.observer = observer
        self.settings = settings
        # Writes go through a connection that never retries by itself (see write_options); reads
        # (listings, GETs) keep the retrying one.
        self.write_conn = write_conn if write_conn is not None else conn
        self._sem = asyncio.Semaphore(settings.sdk_concurrency)
        self._executor = ThreadPoolExecutor(
            max_workers=settings.sdk_concurrency, thread_name_prefix="openstacksdk"
        )
        self._microversions: dict[tuple[str, str], str | None] = {}
        self.who = credentials_label(conn)

    @classmethod
    def from_settings(cls, settings: Settings, *, observer: Any = None, **connect_kwargs: Any) -> CloudClient:
        return cls(build_connection(settings, **connect_kwargs), settings,
                   build_connection(settings, for_writes=True, **connect_kwargs), observer=observer)

    async def run(self, fn: Callable[..., T], *args: Any, doing: str, service: str | None = None,
                  **kwargs: Any) -> T:
        """Run a blocking SDK call on the pool (bounded); failures become OpsError. ``service`` (compute,
        network...) labels the call for the observer."""
        async with self._sem:
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            try:
                return await loop.run_in_executor(
                    self._executor, functools.partial(self._translated, fn, args, kwargs, doing)
                )
            finally:
                if self.observer is not None:  # the call's error, if it raised one (it propagates as is)
                    self.observer.api_call(service, time.perf_counter() - t0, sys.exc_info()[1])

    def _translated(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], doing: str) -> T:
        try:
            return fn(*args, **kwargs)
        except OpsError:
            raise
        except SDK_ERRORS as e:
            raise translate_sdk_error(e, doing, self.who) from e

    # --- raw HTTP through the service proxies --------------------------------------------
    def _proxy(self, service: str) -> Any:
        return getattr(self.conn, service)

    def _resolve_microversion(self, service: str, requested: str | None) -> str | None:
        if requested is None or requested != "max":
            return requested
        key = (service, requested)
        if key not in self._microversions:
            from openstack import utils

            proxy = self._proxy(service)
            self._microversions[key] = utils.maximum_supported_microversion(
                proxy, sdk_max_microversion(type(proxy).__module__)
            )
            log.info("%s: using microversion %s", service, self._microversions[key])
        return self._microversions[key]

    def _get_blocking(
        self, service: str, path: str, params: list[tuple[str, str]] | None, microversion: str | None
    ) -> Response:
        proxy = self._proxy(service)
        mv = self._resolve_microversion(service, microversion)
        kwargs: dict[str, Any] = {"params": params or None, "headers": {"Accept": "application/json"}}
        if mv:
            kwargs["microversion"] = mv
        sent_at = datetime.now(timezone.utc).replace(tzinfo=None)
        resp = proxy.get(path, **kwargs)
        os_exc.raise_from_response(resp)
        rid = resp.headers.get("x-openstack-request-id") or resp.headers.get("x-compute-request-id")
        return Response(body=_json_body(resp) if resp.content else None, request_id=rid, status=resp.status_code,
                        sent_at=sent_at)

    async def get_json(
        self,
        service: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        microversion: str | None = None,
        doing: str | None = None,
    ) -> Response:
        """GET ``path`` on ``service``'s endpoint; raises OpsError (NotFound on 404, NotPermitted on 403...)."""
        return await self.run(
            self._get_blocking, service, path, params, microversion, doing=doing or f"reading {service} {path}",
            service=service,
        )

    async def microversion(self, service: str, requested: str | None) -> str | None:
        """The microversion actually sent for ``requested`` (resolves ``"max"``)."""
        return await self.run(self._resolve_microversion, service, requested, doing=f"discovering {service}")

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.conn.close)
        if self.write_conn is not self.conn:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.write_conn.close)
        self._executor.shutdown(wait=False)
