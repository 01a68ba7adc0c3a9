"""The exception tree. Every domain error the services raise is one of these; the tool layer turns
them into MCP ``ToolError`` with the same message (see ``app.tools``).

    OpsError                     base; ``message`` is written for the user and says what to do
    ├── NotFound                 a name/ID that is not in the snapshot (``candidates``: close matches)
    ├── InvalidArgument          malformed IDs, out-of-range limits, unknown actions or fields
    ├── Conflict                 ambiguous names; OpenStack 409 (resource in the wrong state)
    ├── NotPermitted             writes disabled, confirmation missing/expired/reused, OpenStack 403
    ├── QuotaExceeded            OpenStack 413 / over-limit bodies
    ├── UpstreamError            any other OpenStack failure (``status``, ``request_id``)
    │   └── UpstreamUnavailable  timeouts, connection errors, 5xx after retries
    ├── ServiceNotOffered        the cloud's catalog has no endpoint for a service (e.g. no Placement)
    └── StaleSnapshot            the snapshot cannot answer (kind never synced, or unavailable)

``translate_sdk_error`` is the one place that maps openstacksdk/keystoneauth exceptions into it.
"""

from __future__ import annotations

from collections.abc import Sequence


class OpsError(Exception):
    """Base of every domain error; ``str(err)`` is a user-facing, actionable message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(OpsError):
    def __init__(self, message: str, candidates: Sequence[str] = ()) -> None:
        if candidates:
            message = f"{message} Did you mean: {', '.join(candidates)}?"
        super().__init__(message)
        self.candidates = list(candidates)


class InvalidArgument(OpsError):
    pass


class Conflict(OpsError):
    pass


class NotPermitted(OpsError):
    pass


class QuotaExceeded(OpsError):
    pass


class UpstreamError(OpsError):
    def __init__(self, message: str, status: int | None = None, request_id: str | None = None) -> None:
        if request_id:
            message = f"{message} (OpenStack request id {request_id})"
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class UpstreamUnavailable(UpstreamError):
    pass


class ServiceNotOffered(OpsError):
    pass


class StaleSnapshot(OpsError):
    pass


def _request_id(exc: BaseException) -> str | None:
    rid = getattr(exc, "request_id", None)
    if rid:
        return str(rid)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    return headers.get("x-openstack-request-id") or headers.get("x-compute-request-id")


def translate_sdk_error(exc: BaseException, doing: str, who: str | None = None) -> OpsError:
    """Map an openstacksdk / keystoneauth exception raised while ``doing`` (e.g. "stopping server web-1")
    into an :class:`OpsError`. Unknown exception types are returned as ``UpstreamError`` so the caller
    can ``raise translate_sdk_error(e, ...) from e``. ``who`` names the credentials (user and Keystone,
    never a secret) for a 401."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as os_exc

    if isinstance(exc, OpsError):
        return exc
    rid = _request_id(exc)
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    detail = str(getattr(exc, "details", None) or getattr(exc, "message", None) or exc).rstrip(". ")
    if isinstance(exc, (os_exc.ServiceDisabledException, ks_exc.EndpointNotFound)):
        return ServiceNotOffered(
            f"The cloud does not offer the service needed for {doing} (no usable endpoint in its catalog): {exc}."
        )
    if isinstance(exc, (ks_exc.ConnectFailure, ks_exc.ConnectTimeout, ks_exc.ConnectionError)):
        return UpstreamUnavailable(
            f"OpenStack could not be reached while {doing}: {exc}. Check the endpoint and network, then retry.",
            request_id=rid,
        )
    if isinstance(exc, ks_exc.Unauthorized) or status == 401:
        source = "Keystone" if isinstance(exc, ks_exc.Unauthorized) else "OpenStack"
        return NotPermitted(
            f"{source} answered 401 (Unauthorized) for {who or 'our credentials'} while {doing}. Check the "
            "clouds.yaml entry / OS_* credentials (password, project, domains) and that the user is enabled."
        )
    if isinstance(exc, (os_exc.NotFoundException, os_exc.ResourceNotFound)) or status == 404:
        return NotFound(f"OpenStack says the target no longer exists while {doing}: {detail}.")
    if isinstance(exc, os_exc.ConflictException) or status == 409:
        return Conflict(
            f"OpenStack refused {doing} because the resource is in the wrong state: {detail}. "
            "Check its current status (it may still be transitioning) and retry when it fits."
        )
    # a 403 naming a quota is "exceeded" only when it says so: "Policy doesn't allow
    # os_compute_api:os-quota-sets:detail" and Neutron's "Only admin is authorized to access quotas
    # for another tenant" are refusals
    lowered = str(detail).lower()
    if status == 413 or ("quota" in lowered and "exceed" in lowered and status == 403):
        return QuotaExceeded(f"Quota exceeded while {doing}: {detail}. Free resources or raise the quota.")
    if isinstance(exc, os_exc.ForbiddenException) or status == 403:
        return NotPermitted(
            f"OpenStack forbids {doing} for these credentials: {detail}. An admin role may be required."
        )
    if isinstance(exc, os_exc.BadRequestException) or status == 400:
        return InvalidArgument(f"OpenStack rejected the request while {doing}: {detail}.")
    if status is not None and int(status) >= 500:
        return UpstreamUnavailable(
            f"OpenStack failed while {doing} (HTTP {status}): {detail}. Retry later.", status=status, request_id=rid
        )
    return UpstreamError(f"OpenStack error while {doing}: {detail}.", status=status, request_id=rid)
