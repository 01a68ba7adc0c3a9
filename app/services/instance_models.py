"""The answers of the instance reads (:mod:`app.services.instances`): an instance item (brief or full),
its flavor, image, addresses, volumes and Nova fault, and the list and single results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_serializer

from app.services.models import PageInfo, SnapshotInfo

# An answer repeats at most this much of the search term it was asked.
ECHO_MAX = 100
FAULT_MESSAGE_MAX = 500
FAULT_DETAILS_MAX = 2000
DETAILS = ("brief", "full")


class FlavorRef(BaseModel):
    id: str | None = Field(description="Flavor id (null on compute microversion 2.47+, which embeds the flavor).")
    name: str | None = Field(description="Flavor name.")
    vcpus: int | None = Field(description="vCPUs.")
    ram_mb: int | None = Field(description="RAM in MiB.")
    disk_gb: int | None = Field(description="Root disk in GiB.")


class ImageRef(BaseModel):
    id: str = Field(description="Image id.")
    name: str | None = Field(description="Image name (null if the image is not in the snapshot, e.g. deleted).")


class AddressOut(BaseModel):
    network: str | None = Field(description="Network name.")
    ip_address: str | None = Field(description="IPv4/IPv6 address.")
    version: int | None = Field(description="4 or 6.")
    type: str | None = Field(description="fixed or floating.")
    mac_address: str | None = Field(description="MAC address of the port.")


class AttachedVolume(BaseModel):
    id: str = Field(description="Volume id.")
    name: str | None = Field(description="Volume name (null if unnamed or not in the snapshot).")
    size_gb: int | None = Field(description="Size in GiB (null if the volume is not in the snapshot).")
    delete_on_termination: bool | None = Field(description="Deleted together with the server.")


class Fault(BaseModel):
    """Why Nova put the instance in ERROR (or a failed action): the server's ``fault`` object."""

    message: str | None = Field(description=f"Nova's fault message (at most {FAULT_MESSAGE_MAX} characters).")
    code: int | None = Field(description="HTTP-style code Nova recorded (500: failed build/action, 404: gone, ...).")
    created: str | None = Field(description="When Nova recorded the fault (UTC, ISO 8601 as Nova reports it).")
    details: str | None = Field(default=None, description=f"The traceback or details Nova keeps (admin only; at most "
                                                          f"{FAULT_DETAILS_MAX} characters); only with detail='full'.")


# Fields of every instance item; the others only with detail='full' (absent from brief items).
BRIEF_FIELDS = frozenset({"id", "name", "status", "task_state", "host", "flavor_name", "ips", "fault"})


class Instance(BaseModel):
    """An instance. Brief items (detail='brief') carry only id, name, status, task_state, host,
    flavor_name, ips and fault; full items (detail='full') every field."""

    id: str = Field(description="Server id.")
    name: str | None = Field(description="Server name.")
    status: str | None = Field(description="Nova status (ACTIVE, SHUTOFF, ERROR, ...).")
    task_state: str | None = Field(description="Task in progress (null when idle).")
    host: str | None = Field(description="nova-compute host.")
    flavor_name: str | None = Field(description="Flavor name.")
    ips: list[str] = Field(description="Fixed and floating addresses ('floating' ones marked), e.g. "
                                       "['10.0.0.5', '172.24.4.9 floating'].")
    fault: Fault | None = Field(description="Nova's fault for an instance that has one (ERROR, failed actions): "
                                            "message, code, created; null when none.")
    vm_state: str | None = Field(default=None, description="vm_state (active, stopped, error, ...).")
    power_state: str | None = Field(default=None, description="RUNNING, SHUTDOWN, PAUSED, ...")
    locked: bool | None = Field(default=None, description="Locked against actions.")
    flavor: FlavorRef | None = Field(default=None, description="Flavor name and size.")
    image: ImageRef | None = Field(default=None, description="Boot image; null when booted from a volume.")
    hypervisor_hostname: str | None = Field(default=None, description="Hypervisor host name.")
    availability_zone: str | None = Field(default=None, description="Availability zone.")
    project_id: str | None = Field(default=None, description="Owning project id.")
    project_name: str | None = Field(default=None, description="Owning project name (null if not in the snapshot).")
    user_id: str | None = Field(default=None, description="Creating user id.")
    user_name: str | None = Field(default=None, description="Creating user name (null if not in the snapshot).")
    key_name: str | None = Field(default=None, description="Keypair injected at boot.")
    created_at: datetime | None = Field(default=None, description="Created (UTC).")
    updated_at: datetime | None = Field(default=None, description="Last updated (UTC).")
    launched_at: datetime | None = Field(default=None, description="Launched (UTC).")
    addresses: list[AddressOut] | None = Field(default=None, description="Fixed and floating addresses with network, "
                                                                        "version and MAC.")
    volumes: list[AttachedVolume] | None = Field(
        default=None, description="Attached volumes with name and size; null unless include_all=true.")
    security_groups: list[str] | None = Field(
        default=None, description="Security group names; null unless include_all=true.")

    @model_serializer(mode="wrap")
    def _brief(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if "vm_state" in self.model_fields_set:  # a full item
            return data  # type: ignore[no-any-return]
        return {k: v for k, v in data.items() if k in BRIEF_FIELDS}


class InstanceList(PageInfo):
    instances: list[Instance] = Field(description="This window of instances, ordered by name then id.")
    not_found: list[str] = Field(default_factory=list, description="Requested names/IDs that matched nothing.")
    snapshot: SnapshotInfo


class InstanceSearchResult(InstanceList):
    search_term: str = Field(description=f"The term searched for (partial match; its first {ECHO_MAX} characters).")
    search_in: str = Field(description="The field(s) searched.")
    case_sensitive: bool = Field(description="Whether the match was case-sensitive.")


class InstanceResult(BaseModel):
    instance: Instance
    snapshot: SnapshotInfo


def _clip(text: Any, n: int) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= n else text[:n] + f"... [{len(text)} characters]"


def fault_of(raw_fault: Any, full: bool) -> Fault | None:
    """Nova's ``fault`` object (from the stored API object) as a :class:`Fault`; None when absent."""
    if not isinstance(raw_fault, dict) or not raw_fault:
        return None
    code = raw_fault.get("code")
    return Fault(message=_clip(raw_fault.get("message"), FAULT_MESSAGE_MAX),
                 code=code if isinstance(code, int) and not isinstance(code, bool) else None,
                 created=_clip(raw_fault.get("created"), 64),
                 details=_clip(raw_fault.get("details"), FAULT_DETAILS_MAX) if full else None)
