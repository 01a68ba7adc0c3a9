"""Raw REST calls through an openstacksdk service proxy, for writes the SDK's resource layer does not
express exactly (a pinned microversion, a JSON-patch body, a streamed upload). Runs inside an
action's blocking ``call`` (on the SDK pool); HTTP errors become openstacksdk exceptions, which the
flow translates. ``quiet=True`` turns off keystoneauth's request/response logging for that one request
(its DEBUG log includes JSON response bodies, e.g. a generated private key). ``once=True`` sends the
request exactly once, without the connection's connect/status-code retries (a streamed body is
consumed by the first attempt: a retry would send it empty)."""

from __future__ import annotations

from typing import Any

from openstack import exceptions as os_exc


def request(proxy: Any, method: str, path: str, *, quiet: bool = False, once: bool = False, **kwargs: Any) -> Any:
    """Send ``method path`` on ``proxy``'s endpoint; returns the JSON body (None when empty)."""
    if quiet:
        kwargs["log"] = False
    if once:
        kwargs.update(connect_retries=0, status_code_retries=0)
    resp = getattr(proxy, method.lower())(path, **kwargs)
    os_exc.raise_from_response(resp)
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None
