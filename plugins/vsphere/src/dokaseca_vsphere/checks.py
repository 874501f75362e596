"""Rules that need both the ``vsphere:`` block and the rest of the cluster.

The config validators see only the block; these run from the ``check_cluster``
hook while the fleet file is loaded, so ``dokaseca validate`` reports them with
every other problem. Paths are relative to the cluster entry.
"""

from __future__ import annotations

import difflib

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec

from dokaseca_vsphere.config import VSphereConfig


def problems(cluster: ClusterSpec) -> list[Problem]:
    """Every contradiction between the cluster's settings and its ``vsphere:`` block."""
    return _machine_size_problems(cluster)


def _machine_size_problems(cluster: ClusterSpec) -> list[Problem]:
    config: VSphereConfig = cluster.provider_config
    wanted: list[tuple[str, str | None]] = [("controlPlane.machineSize", cluster.control_plane.machine_size)]
    wanted += [(f"workers.{pool.name}.machineSize", pool.machine_size) for pool in cluster.workers]
    return [
        Problem(path=path, message="is not a size defined under vsphere.sizes", value=size, hint=_size_hint(size, config))
        for path, size in wanted
        if size is not None and size not in config.sizes
    ]


def _size_hint(size: str, config: VSphereConfig) -> str:
    fix = "add it under vsphere.sizes as {numCPUs, memoryMiB, diskGiB}, or remove machineSize to use the block's numCPUs/memoryMiB/diskGiB"
    if not config.sizes:
        return f"known sizes: none defined; {fix}"
    known = sorted(config.sizes)
    close = difflib.get_close_matches(size, known, n=1, cutoff=0.6)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}known sizes: " + ", ".join(repr(name) for name in known) + f"; {fix}"
