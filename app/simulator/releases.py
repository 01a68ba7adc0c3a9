"""Release profiles: which API microversions a simulated cloud offers, and how it behaves.

The numbers follow the upstream release notes: Train's Nova tops out at 2.79, Wallaby at 2.88 (the
microversion that removed hypervisor capacity fields and ``/os-hypervisors/statistics``), Yoga at
2.90, Epoxy (2025.1) at 2.100. Cinder: Train 3.59, Wallaby 3.64, Yoga 3.68, Epoxy 3.71.
Placement: Train 1.34 (not 1.36+), Wallaby 1.36, Yoga 1.39, Epoxy 1.39.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    name: str
    compute_max: tuple[int, int]
    volume_max: tuple[int, int]
    placement_max: tuple[int, int]
    compute_min: tuple[int, int] = (2, 1)
    volume_min: tuple[int, int] = (3, 0)
    placement_min: tuple[int, int] = (1, 0)

    @property
    def hypervisor_capacity_fields(self) -> bool:
        """Whether the newest compute microversion still reports vcpus/memory_mb/local_gb on hypervisors."""
        return self.compute_max < (2, 88)


RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("train", compute_max=(2, 79), volume_max=(3, 59), placement_max=(1, 34)),
        Release("wallaby", compute_max=(2, 88), volume_max=(3, 64), placement_max=(1, 36)),
        Release("yoga", compute_max=(2, 90), volume_max=(3, 68), placement_max=(1, 39)),
        Release("epoxy", compute_max=(2, 100), volume_max=(3, 71), placement_max=(1, 39)),
    )
}


def get_release(name: str) -> Release:
    try:
        return RELEASES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown release {name!r}; choose one of {', '.join(RELEASES)}") from None


def fmt(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def parse_version(s: str) -> tuple[int, int]:
    major, _, minor = s.strip().partition(".")
    return int(major), int(minor or 0)
