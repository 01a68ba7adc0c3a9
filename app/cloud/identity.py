"""Which cloud a connection talks to, without asking it anything: the cloud label and fingerprint.

Every snapshot row carries a cloud label, and several clouds may share one database. Two servers
configured for different clouds must therefore never use the same label: one would answer with the
other's rows, and after a lease move its full syncs would tombstone them. So:

* the label is, unless ``OPS_CLOUD_LABEL`` sets it, derived from the cloud's identity: the
  clouds.yaml entry (``OS_CLOUD``), else the Keystone host, region and project;
* the fingerprint (sha256 of the normalised auth URL, region, project and project domain, or the
  application credential) is recorded per label in ``cloud_identities`` the first time a label is
  served (app/db/clouds.py); a server whose fingerprint differs is refused at start-up.

Nothing secret enters either: no user name, password, token or application-credential secret.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LABEL_MAX = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CloudIdentity:
    auth_url: str
    region: str
    project: str
    cloud_name: str | None  # the clouds.yaml entry, when the connection came from one

    @property
    def fingerprint(self) -> str:
        text = "\n".join((self.auth_url, self.region, self.project))
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> str:
        return f"{self.auth_url or '?'} (region {self.region or '-'}, project {self.project or '-'})"


def _norm_url(url: str) -> str:
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


def identity_of(conn: Any) -> CloudIdentity:
    """The identity of an openstacksdk connection, from its configuration (no request is sent)."""
    cfg = conn.config
    auth: dict[str, Any] = dict(cfg.config.get("auth") or {})
    if auth.get("application_credential_id"):
        project = f"application-credential:{auth['application_credential_id']}"
    else:
        name = auth.get("project_id") or auth.get("project_name") or auth.get("tenant_name") or ""
        domain = auth.get("project_domain_id") or auth.get("project_domain_name") or ""
        project = f"{domain}/{name}" if domain else str(name)
    cloud_name = cfg.name if cfg.name not in (None, "", "defaults", "envvars") else None
    return CloudIdentity(auth_url=_norm_url(str(auth.get("auth_url") or "")), region=str(cfg.region_name or ""),
                         project=project, cloud_name=cloud_name)


def derive_label(identity: CloudIdentity) -> str:
    """A readable, stable label: the clouds.yaml name, else ``<keystone host>-<region>-<project>``."""
    if identity.cloud_name:
        base = identity.cloud_name
    else:
        host = urlsplit(identity.auth_url).netloc or "cloud"
        project = identity.project.rsplit("/", 1)[-1]
        base = "-".join(p for p in (host, identity.region, project) if p)
    label = _UNSAFE.sub("-", base).strip("-") or "cloud"
    if len(label) > LABEL_MAX:
        label = f"{label[:LABEL_MAX - 9]}-{identity.fingerprint[:8]}"
    return label
