"""Which clouds one server serves: ``OPS_CLOUDS`` (clouds.yaml entry names, or ``all``), else the one
cloud of ``OS_CLOUD`` / the ``OS_*`` variables.

Each served cloud gets settings of its own (:func:`cloud_settings`): ``os_cloud`` is its clouds.yaml
entry and ``cloud_name`` (its label in every snapshot row, its poller lease ``poller:<label>``) is the
entry name. Nothing is sent to any cloud here; clouds.yaml is read by openstacksdk's own loader.
"""

from __future__ import annotations

from app.config import CLOUD_LABEL, Settings
from app.errors import InvalidArgument

# Pseudo-entries openstacksdk adds to the cloud names (the OS_* environment, the defaults).
_NOT_ENTRIES = frozenset({"envvars", "defaults"})


def clouds_yaml_entries() -> list[str]:
    """The entry names of the clouds.yaml openstacksdk finds (OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack,
    /etc/openstack), in file order."""
    import openstack.config

    names = openstack.config.OpenStackConfig().get_cloud_names()
    return [n for n in names if n not in _NOT_ENTRIES]


def served_clouds(settings: Settings) -> list[str]:
    """The clouds.yaml entries this server serves (``OPS_CLOUDS``); empty: one cloud, configured as before."""
    if settings.clouds != ["all"]:
        return list(settings.clouds)
    names = clouds_yaml_entries()
    if not names:
        raise InvalidArgument("OPS_CLOUDS=all but no clouds.yaml entry was found (openstacksdk looks in "
                              "OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/ and /etc/openstack/).")
    bad = [n for n in names if not CLOUD_LABEL.fullmatch(n)]
    if bad:
        raise InvalidArgument(f"OPS_CLOUDS=all: clouds.yaml entry {bad[0][:80]!r} cannot be a cloud label (at most "
                              "64 characters of A-Z a-z 0-9 . _ : -): rename it, or list the entries to serve.")
    return names


def cloud_settings(settings: Settings) -> list[Settings]:
    """One Settings per served cloud (its entry in ``os_cloud``, its label in ``cloud_name``); the given
    settings alone when ``OPS_CLOUDS`` is empty."""
    names = served_clouds(settings)
    if not names:
        return [settings]
    if settings.cloud_name:
        raise InvalidArgument("OPS_CLOUD_LABEL cannot be combined with OPS_CLOUDS: each served cloud's label is its "
                              "clouds.yaml entry name. Unset OPS_CLOUD_LABEL (or rename the entries).")
    return [settings.model_copy(update={"os_cloud": name, "cloud_name": name}) for name in names]
