"""Rules that need both the ``gcp:`` block and the rest of the cluster.

The config validators see only the block; these run from the ``check_cluster``
hook while the fleet file is loaded, so ``dokaseca validate`` reports them with
every other problem. Paths are relative to the cluster entry.
"""

from __future__ import annotations

import ipaddress

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec
from dokaseca.validators import cidrs_overlap

from dokaseca_gcp.config import GKE_DISK_TYPES, REGION, ZONE, GcpConfig, machine_type_problem, subnet_network
from dokaseca_gcp.gke import MAX_NAME_LENGTH, initial_size, zones_spanned


def problems(cluster: ClusterSpec) -> list[Problem]:
    """Every contradiction between the cluster's settings and its ``gcp:`` block."""
    config: GcpConfig = cluster.provider_config
    region = _region(cluster)
    found: list[Problem] = []
    found += _region_problems(cluster)
    found += _zone_problems(config, region)
    found += _machine_size_problems(cluster)
    found += _failure_domain_problems(cluster, config, region)
    found += _addon_service_account_problems(cluster, config)
    if cluster.flavor == "gke":
        found += _gke_problems(cluster, config, region)
    else:  # GKE picks its own pod and Service ranges
        found += _overlap_problems(cluster, config)
        found += _subnet_in_region_problems(cluster, config, region)
    return found


def _addon_service_account_problems(cluster: ClusterSpec, config: GcpConfig) -> list[Problem]:
    if not config.addon_service_accounts:
        return []
    if cluster.flavor != "gke":
        return [
            Problem(
                path="gcp.addonServiceAccounts",
                message="needs flavor: gke (Workload Identity is a GKE feature)",
                hint="on a kubeadm cluster pods act as the nodes' service account (gcp.serviceAccount)",
            )
        ]
    if not config.gke.workload_identity:
        return [Problem(path="gcp.addonServiceAccounts", message="needs Workload Identity", hint="set gcp.gke.workloadIdentity: true")]
    return []


def _subnet_in_region_problems(cluster: ClusterSpec, config: GcpConfig, region: str | None) -> list[Problem]:
    """The nodes of a network prepare makes need one of its subnets in the cluster's region."""
    network = config.network
    if region is None or not network.create or any((subnet.region or cluster.region) == region for subnet in network.subnets):
        return []
    return [
        Problem(
            path="gcp.network.subnets",
            message=f"has no subnet in region {region!r}",
            hint="add one there (a subnet without a region is in the cluster's)",
        )
    ]


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


# -- GKE ------------------------------------------------------------------------------------


def _gke_problems(cluster: ClusterSpec, config: GcpConfig, region: str | None) -> list[Problem]:
    found = _gke_pools_problems(cluster, config)
    found += _gke_name_problems(cluster)
    found += _gke_location_problems(cluster, config, region)
    found += _gke_version_problems(cluster, config)
    if config.root_device_type not in GKE_DISK_TYPES:
        found.append(
            Problem(
                path="gcp.rootDeviceType",
                message="is not a disk type of GKE node pools",
                value=config.root_device_type,
                hint="use one of " + ", ".join(GKE_DISK_TYPES),
            )
        )
    found += _gke_network_problems(cluster, config, region)
    return found


def _gke_pools_problems(cluster: ClusterSpec, config: GcpConfig) -> list[Problem]:
    if config.gke.autopilot:
        if not cluster.workers:
            return []
        return [
            Problem(
                path="workers",
                message="must be empty for an Autopilot cluster",
                value=[pool.name for pool in cluster.workers],
                hint="GKE makes the nodes the pods ask for: remove the pools, or set gcp.gke.autopilot: false",
            )
        ]
    if not cluster.workers:
        return [
            Problem(
                path="workers",
                message="is empty: a Standard GKE cluster needs at least one node pool",
                hint="add a pool, or set gcp.gke.autopilot: true",
            )
        ]
    found = []
    for pool in cluster.workers:
        if len(pool.name) > MAX_NAME_LENGTH or not pool.name[0].isalpha():
            found.append(
                Problem(
                    path=f"workers.{pool.name}.name",
                    message="cannot name a GKE node pool",
                    value=pool.name,
                    hint=f"node pool names start with a letter and have at most {MAX_NAME_LENGTH} characters",
                )
            )
        zones = zones_spanned(config, pool)
        if not pool.autoscaled and (pool.replicas or 0) % zones:
            lower, upper = pool.replicas // zones * zones, (pool.replicas // zones + 1) * zones
            found.append(
                Problem(
                    path=f"workers.{pool.name}.replicas",
                    message=f"must be a multiple of {zones}: GKE puts the same number of nodes in each of the pool's {zones} zones",
                    value=pool.replicas,
                    hint=f"use {' or '.join(str(n) for n in (lower, upper) if n)}, or pin the pool to one zone with failureDomain",
                )
            )
        elif pool.autoscaled and initial_size(config, pool) > (pool.max_replicas or 0):
            size = initial_size(config, pool)
            found.append(
                Problem(
                    path=f"workers.{pool.name}.maxReplicas",
                    message=f"is below {size}, the size the pool starts at: minReplicas rounded up to a multiple of its {zones} zones",
                    value=pool.max_replicas,
                    hint=f"raise maxReplicas to {size} or more, or pin the pool to one zone with failureDomain",
                )
            )
    return found


def _gke_name_problems(cluster: ClusterSpec) -> list[Problem]:
    """Classic mode names the GKE cluster after the fleet's cluster (in
    ClusterClass mode CAPG derives a name that fits)."""
    if cluster.mode != "classic" or (len(cluster.name) <= MAX_NAME_LENGTH and cluster.name[0].isalpha()):
        return []
    return [
        Problem(
            path="name",
            message="cannot name a GKE cluster",
            value=cluster.name,
            hint=f"GKE cluster names start with a letter and have at most {MAX_NAME_LENGTH} characters",
        )
    ]


def _gke_location_problems(cluster: ClusterSpec, config: GcpConfig, region: str | None) -> list[Problem]:
    """CAPG v1.12 makes the GKE cluster at ``spec.location`` but addresses its node
    pools at ``locations/<region>`` (ManagedMachinePoolScope.NodePoolLocation) and,
    judging regional-ness from that region, divides every pool's replicas among
    three zones: the pools of a zonal cluster are never found."""
    location = config.gke.location
    if location is None or location == cluster.region:
        return []
    path, where = "gcp.gke.location", repr(region) if region else "the cluster's region"
    if not ZONE.match(location):
        return [
            Problem(path=path, message="is not the cluster's region", value=location, hint=f"leave it out: the GKE cluster is in {where}")
        ]
    if region and location.startswith(region + "-"):
        pin = f"to keep the nodes in {location}, set gcp.zones: [{location}] or the pools' failureDomain: {location}"
    else:
        pin = "to keep the nodes in one zone, list it in gcp.zones or set it as the pools' failureDomain"
    return [
        Problem(
            path=path,
            message="is a zone: CAPG v1.12 cannot run a zonal GKE cluster (it looks for the node pools in the region)",
            value=location,
            hint=f"leave it out for a regional cluster in {where}; {pin}",
        )
    ]


def _gke_version_problems(cluster: ClusterSpec, config: GcpConfig) -> list[Problem]:
    """A release channel and a pinned kubernetesVersion pull the nodes two ways."""
    gke = config.gke
    if gke.autopilot:
        return []  # no node pools, and GKE requires a channel
    found = []
    upgrade = gke.management.auto_upgrade
    if gke.channel() and upgrade is False:
        found.append(
            Problem(
                path="gcp.gke.management.autoUpgrade",
                message=f"cannot be off in the {gke.channel()!r} release channel",
                value=upgrade,
                hint="GKE upgrades the nodes of a channel itself: remove autoUpgrade, or remove releaseChannel to pin kubernetesVersion",
            )
        )
    if not gke.channel() and upgrade:
        found.append(
            Problem(
                path="gcp.gke.management.autoUpgrade",
                message="would move the nodes off the pinned kubernetesVersion, and Cluster API would move them back",
                value=upgrade,
                hint="remove autoUpgrade and upgrade with kubernetesVersion, or set a releaseChannel and let GKE upgrade",
            )
        )
    if gke.channel() and cluster.mode == "clusterclass":
        found.append(
            Problem(
                path="gcp.gke.releaseChannel",
                message="cannot go with mode: clusterclass on a Standard cluster",
                value=gke.release_channel,
                hint="the topology pins every node pool to kubernetesVersion and would undo GKE's upgrades: "
                "remove releaseChannel (a pinned version), or use mode: classic",
            )
        )
    return found


def _gke_network_problems(cluster: ClusterSpec, config: GcpConfig, region: str | None) -> list[Problem]:
    network = config.network
    found = []
    custom = network.auto_create_subnetworks is False or network.create
    if region is not None and custom and not any((subnet.region or cluster.region) == region for subnet in network.subnets):
        found.append(
            Problem(
                path="gcp.network.subnets",
                message=f"has no subnet in region {region!r}",
                hint="GKE puts its nodes in the network's subnet of the cluster's region: add one there",
            )
        )
    private = config.gke.private
    if private is not None and private.control_plane_cidr:
        for index, subnet in enumerate(network.subnets):
            block = subnet_network(subnet)
            if block is not None and block.overlaps(ipaddress.IPv4Network(private.control_plane_cidr)):
                found.append(
                    Problem(
                        path="gcp.gke.private.controlPlaneCidr",
                        message=f"overlaps gcp.network.subnets[{index}] ({block})",
                        value=private.control_plane_cidr,
                        hint="pick a /28 outside the network's subnets, e.g. '172.16.0.0/28'",
                    )
                )
    return found
