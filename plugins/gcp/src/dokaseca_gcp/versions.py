"""The GKE version a managed cluster asks for, against what GKE offers in its
location (``getServerConfig``): in the release channel when there is one,
else among the valid control-plane versions.

``kubernetesVersion: v1.33.5`` matches GKE's ``1.33.5-gke.N`` builds; the
newest of them is handed on as ``gke_version``.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once

from dokaseca_gcp.session import Gcp

CHANNEL_FIELD = "gcp.gke.releaseChannel"  # autopilot without one: 'regular'
SHOWN = 12  # valid versions listed in an error
_server_configs = Once()


def gke_version(gcp: Gcp, cluster: ClusterSpec, location: str, channel: Optional[str]) -> str:
    """The newest GKE build of the cluster's version; an error listing the valid ones when there is none."""
    name = f"projects/{gcp.project}/locations/{location}"
    container = gcp.container()
    config = _server_configs.value(name, lambda: gcp.call(container.get_server_config, name=name))
    where = f"GKE in {location}"
    if channel:
        offered = {c.channel.name: c for c in config.channels}
        found = offered.get(channel.upper())
        if found is None:
            names = ", ".join(sorted(n.lower() for n in offered if n != "UNSPECIFIED")) or "none"
            raise ProviderError(
                f"cluster {cluster.name}: {CHANNEL_FIELD} {channel!r} is not a release channel {where} offers; use one of: {names}"
            )
        valid = list(found.valid_versions)
        where += f" on the {channel.lower()} channel"
    else:
        valid = list(config.valid_master_versions)
    wanted = cluster.kubernetes_version.removeprefix("v")
    matching = [v for v in valid if v == wanted or v.startswith(wanted + "-")]
    if matching:
        return max(matching, key=_order)
    raise ProviderError(
        f"cluster {cluster.name}: kubernetesVersion {cluster.kubernetes_version} is not offered by {where}; "
        f"valid now: {_listing(valid)}. Set kubernetesVersion to one of them" + (f", or change {CHANNEL_FIELD}" if channel else "")
    )


def _order(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _listing(valid: list[Any]) -> str:
    """Each Kubernetes patch version once, newest first, written as the fleet file writes it."""
    patches = sorted({v.split("-", 1)[0] for v in valid}, key=_order, reverse=True)
    shown = ", ".join(f"v{p}" for p in patches[:SHOWN])
    return (shown + f" (and {len(patches) - SHOWN} older)") if len(patches) > SHOWN else shown or "none"
