"""Rules that need both the ``gcp:`` block and the rest of the cluster.

The config validators see only the block; these run from the ``check_cluster``
hook while the fleet file is loaded, so ``dokaseca validate`` reports them with
every other problem. Paths are relative to the cluster entry.
"""

from __future__ import annotations

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec
from dokaseca.validators import cidrs_overlap

from dokaseca_gcp.config import REGION, ZONE, GcpConfig, machine_type_problem


def problems(cluster: ClusterSpec) -> list[Problem]:
    """Every contradiction between the cluster's settings and its ``gcp:`` block."""
    config: GcpConfig = cluster.provider_config
    region = _region(cluster)
    found: list[Problem] = []
    found += _region_problems(cluster)
    found += _zone_problems(config, region)
    found += _machine_size_problems(cluster)
    found += _failure_domain_problems(cluster, config, region)
    found += _overlap_problems(cluster, config)
    return found


def _region(cluster: ClusterSpec) -> str | None:
    """The cluster's region when it is a well-formed GCP region, else None
    (a missing region is reported by the core, a malformed one by _region_problems)."""
    region = cluster.region or ""
    return region if REGION.match(region) else None


def _region_problems(cluster: ClusterSpec) -> list[Problem]:
    if not cluster.region or REGION.match(cluster.region):
        return []
    zone = ZONE.match(cluster.region)
    if zone:
        hint = f"{cluster.region!r} is a zone; set region: {zone.group(1)} and list zones under gcp.zones"
    else:
        hint = "write a GCP region such as 'europe-west1'"
    return [Problem(path="region", message="is not a GCP region", value=cluster.region, hint=hint)]


def _zone_problems(config: GcpConfig, region: str | None) -> list[Problem]:
    if region is None:
        return []
    return [
        Problem(
            path=f"gcp.zones[{index}]",
            message=f"is not in region {region!r}",
            value=zone,
            hint=f"list zones of {region} such as '{region}-b', or change the cluster's region",
        )
        for index, zone in enumerate(config.zones)
        if not zone.startswith(region + "-")
    ]


def _machine_size_problems(cluster: ClusterSpec) -> list[Problem]:
    sizes = [("controlPlane.machineSize", cluster.control_plane.machine_size)]
    sizes += [(f"workers.{pool.name}.machineSize", pool.machine_size) for pool in cluster.workers]
    found = []
    for path, size in sizes:
        problem = size and machine_type_problem(size)
        if problem:
            found.append(Problem(path=path, message="is not a GCE machine type", value=size, hint=problem))
    return found


def _failure_domain_problems(cluster: ClusterSpec, config: GcpConfig, region: str | None) -> list[Problem]:
    """A pool's failure domain must be one the GCPCluster offers: one of gcp.zones
    when they are listed, otherwise (CAPG then uses every zone of the region) a
    zone of the cluster's region. Machines in another one never get scheduled."""
    found = []
    for pool in cluster.workers:
        domain = pool.failure_domain
        if not domain:
            continue
        path = f"workers.{pool.name}.failureDomain"
        if config.zones:
            if domain not in config.zones:
                found.append(
                    Problem(
                        path=path,
                        message="is not one of gcp.zones",
                        value=domain,
                        hint="use one of: " + ", ".join(repr(zone) for zone in config.zones) + ", or add it to gcp.zones",
                    )
                )
            continue
        zone = ZONE.match(domain)
        if zone is None:
            example = f"'{region}-b'" if region else "'europe-west1-b'"
            found.append(Problem(path=path, message="is not a GCP zone", value=domain, hint=f"write a zone such as {example}"))
        elif region is not None and zone.group(1) != region:
            found.append(
                Problem(
                    path=path,
                    message=f"is not a zone of region {region!r}",
                    value=domain,
                    hint=f"use a zone of {region} such as '{region}-b'",
                )
            )
    return found


def _overlap_problems(cluster: ClusterSpec, config: GcpConfig) -> list[Problem]:
    cluster_ranges = [("network.pods", block) for block in cluster.network.pods]
    cluster_ranges += [("network.services", block) for block in cluster.network.services]
    found = []
    for index, subnet in enumerate(config.network.subnets):
        for label, block in cluster_ranges:
            if cidrs_overlap(subnet.cidr_block, block):
                found.append(
                    Problem(
                        path=f"gcp.network.subnets[{index}].cidrBlock",
                        message=f"overlaps {label} {block}",
                        value=subnet.cidr_block,
                        hint="node, pod and service ranges must be disjoint or traffic is misrouted; change this subnet or " + label,
                    )
                )
    return found
