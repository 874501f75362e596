"""Checks of an Azure cluster that need more than the ``azure:`` block
(``check_cluster``): every problem is reported, at its path relative to the
cluster entry.

Settings a cluster does not use (``aks:`` on a kubeadm cluster, the control
plane's subnet on an AKS one) are not problems: provider blocks merge down from
``defaults:`` and environments, where one block serves many kinds of cluster.
"""

from __future__ import annotations

import re

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec, WorkerPool
from dokaseca.validators import cidrs_overlap

from dokaseca_azure.aks import system_pools
from dokaseca_azure.config import AZURE_ZONES, SUBNET_ROLES, AzureConfig, subnet_range_problem, vm_size_problem
from dokaseca_azure.names import CAPZ_VNET_CIDR

_LOCATION = re.compile(r"^[a-z0-9]+$")
# AKS agent pool names (Linux): a lower-case letter, then letters and digits, 12 at most.
_AGENT_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
AKS_MAX_NODES_PER_POOL = 1000
AKS_MAX_DNS_PREFIX = 54  # CAPZ uses the cluster name as the AKS DNS prefix
AKS_MAX_OS_DISK_GB = 2048
AKS_MIN_SYSTEM_MAX_PODS = 30
AKS_RESERVED_LABEL_PREFIX = "kubernetes.azure.com/"
# Ranges AKS keeps for itself: no pod, service or vnet range may overlap them.
AKS_RESERVED_RANGES = ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")


def problems(cluster: ClusterSpec) -> list[Problem]:
    config: AzureConfig = cluster.provider_config
    found: list[Problem] = []
    # A missing region is reported by the core (requires_region).
    if cluster.region is not None and not _LOCATION.match(cluster.region):
        found.append(
            Problem(
                path="region",
                message="is not an Azure location name",
                value=cluster.region,
                hint="write it as 'westeurope' or 'eastus2' (`az account list-locations --query [].name -o tsv`)",
            )
        )
    sizes = [("controlPlane.machineSize", cluster.control_plane.machine_size)]
    sizes += [(f"workers.{pool.name}.machineSize", pool.machine_size) for pool in cluster.workers]
    for path, size in sizes:
        problem = size and vm_size_problem(size)
        if problem:
            found.append(Problem(path=path, message="is not an Azure VM size", value=size, hint=problem))
    # The block's own ranges were checked when it was read; CAPZ's defaults for the
    # subnets this flavor uses are checked here.
    roles = ("node",) if cluster.flavor == "aks" else tuple(SUBNET_ROLES)
    subnet_problem = subnet_range_problem(config.subnets, config.vnet.cidr_blocks, roles)
    if subnet_problem is not None:
        found.append(Problem(path="azure.subnets", message=subnet_problem.message, value=subnet_problem.value, hint=subnet_problem.hint))
    found += _failure_domains(cluster, config)
    found += _pod_overlaps(cluster, config, roles)
    if cluster.flavor == "aks":
        found += _aks_cluster(cluster, config)
        found += _aks_pools(cluster, config)
        found += _aks_ranges(cluster, config)
    return found


def _failure_domains(cluster: ClusterSpec, config: AzureConfig) -> list[Problem]:
    found = []
    zones = config.availability_zones
    for pool in cluster.workers:
        domain = pool.failure_domain
        if domain is None:
            continue
        path = f"workers.{pool.name}.failureDomain"
        if domain not in AZURE_ZONES:
            found.append(
                Problem(
                    path=path,
                    message="is not an Azure availability zone",
                    value=domain,
                    hint="Azure zones are '1', '2' and '3' (quote them)",
                )
            )
        elif zones and domain not in zones:
            found.append(
                Problem(
                    path=path,
                    message="is not one of azure.availabilityZones",
                    value=domain,
                    hint=f"use one of {', '.join(repr(z) for z in zones)}, or add zone {domain!r} to azure.availabilityZones",
                )
            )
    return found


def _pod_overlaps(cluster: ClusterSpec, config: AzureConfig, roles: tuple[str, ...]) -> list[Problem]:
    """Pod addresses inside the Azure network would be unreachable."""
    node_ranges = [*config.vnet.cidr_blocks, *(block for role in roles for block in config.subnets.effective_cidrs(role))]
    found = []
    for index, pods in enumerate(cluster.network.pods):
        overlapping = [block for block in dict.fromkeys(node_ranges) if cidrs_overlap(block, pods)]
        if overlapping:
            found.append(
                Problem(
                    path="network.pods",
                    message=f"entry {index} overlaps the Azure network {', '.join(overlapping)}; pods there would be unreachable",
                    value=pods,
                    hint="change network.pods, or the ranges in azure.vnet / azure.subnets",
                )
            )
    return found


# -- AKS -----------------------------------------------------------------------------------


def _aks_cluster(cluster: ClusterSpec, config: AzureConfig) -> list[Problem]:
    aks = config.aks
    found = []
    lowered = cluster.name.lower()
    if "microsoft" in lowered or "windows" in lowered or len(cluster.name) > AKS_MAX_DNS_PREFIX:
        found.append(
            Problem(
                path="name",
                message="cannot name an AKS cluster",
                value=cluster.name,
                hint=f"AKS refuses names containing 'microsoft' or 'windows', and DNS prefixes longer than {AKS_MAX_DNS_PREFIX} characters",
            )
        )
    if config.api_endpoint == "private" and aks.authorized_ip_ranges:
        found.append(
            Problem(
                path="azure.aks.authorizedIpRanges",
                message="cannot be used with a private API server (apiEndpoint: private)",
                value=list(aks.authorized_ip_ranges),
                hint="a private cluster's API server has no public address to restrict; remove one of the two",
            )
        )
    if aks.kubelet_identity_id and not aks.identity_id:
        found.append(
            Problem(
                path="azure.aks.kubeletIdentityId",
                message="needs azure.aks.identityId",
                hint="AKS takes a kubelet identity only from a cluster with a user-assigned control-plane identity; set identityId too",
            )
        )
    if aks.network_dataplane == "cilium" and aks.network_policy not in (None, "cilium"):
        found.append(
            Problem(
                path="azure.aks.networkPolicy",
                message="must be 'cilium' (or unset) with networkDataplane 'cilium'",
                value=aks.network_policy,
                hint="Cilium enforces the network policies itself",
            )
        )
    if config.os_disk.size_gb > AKS_MAX_OS_DISK_GB:
        found.append(
            Problem(
                path="azure.osDisk.sizeGb",
                message=f"is larger than AKS allows ({AKS_MAX_OS_DISK_GB} GiB)",
                value=config.os_disk.size_gb,
                hint=f"use at most {AKS_MAX_OS_DISK_GB}",
            )
        )
    for path, blocks in (
        ("azure.vnet.cidrBlocks", config.vnet.cidr_blocks),
        ("azure.subnets.node.cidrBlocks", config.subnets.node.cidr_blocks),
    ):
        if len(blocks) > 1:
            found.append(
                Problem(
                    path=path,
                    message="lists more than one range; an AKS vnet and node subnet take one each",
                    value=list(blocks),
                    hint="keep one",
                )
            )
    return found


def _aks_pools(cluster: ClusterSpec, config: AzureConfig) -> list[Problem]:
    found = []
    if not cluster.workers:
        return [
            Problem(path="workers", message="is empty; AKS needs at least one pool", hint="add a worker pool: AKS runs its own pods on it")
        ]
    names = [pool.name for pool in cluster.workers]
    for index, name in enumerate(config.aks.system_pools):
        if name not in names:
            found.append(
                Problem(
                    path=f"azure.aks.systemPools[{index}]",
                    message="is not a worker pool of this cluster",
                    value=name,
                    hint=f"name one of {', '.join(names)}",
                )
            )
    system = system_pools(cluster)
    for pool in cluster.workers:
        base = f"workers.{pool.name}"
        if not _AGENT_POOL_NAME.match(pool.name):
            found.append(
                Problem(
                    path=f"{base}.name",
                    message="is not an AKS agent pool name",
                    value=pool.name,
                    hint="AKS wants a lower-case letter, then lower-case letters and digits, 12 at most (e.g. 'system', 'batch2')",
                )
            )
        found += _pool_size(pool, base, pool.name in system)
        reserved = sorted(key for key in pool.labels if key.startswith(AKS_RESERVED_LABEL_PREFIX))
        if reserved:
            found.append(
                Problem(
                    path=f"{base}.labels",
                    message=f"sets {', '.join(reserved)}; AKS keeps labels under {AKS_RESERVED_LABEL_PREFIX} for itself",
                    hint="use another prefix",
                )
            )
    max_pods = config.aks.max_pods
    if max_pods is not None and max_pods < AKS_MIN_SYSTEM_MAX_PODS:
        found.append(
            Problem(
                path="azure.aks.maxPods",
                message=f"is below the {AKS_MIN_SYSTEM_MAX_PODS} pods per node AKS wants on System pools ({', '.join(sorted(system))})",
                value=max_pods,
                hint=f"use {AKS_MIN_SYSTEM_MAX_PODS} or more",
            )
        )
    return found


def _pool_size(pool: WorkerPool, base: str, system: bool) -> list[Problem]:
    low, high, key = (
        (pool.min_replicas, pool.max_replicas, "minReplicas") if pool.autoscaled else (pool.replicas, pool.replicas, "replicas")
    )
    found = []
    if system and low is not None and low < 1:
        found.append(
            Problem(
                path=f"{base}.{key}",
                message="must be at least 1 on a System pool",
                value=low,
                hint="AKS runs its own pods there; keep one node or more",
            )
        )
    if high is not None and high > AKS_MAX_NODES_PER_POOL:
        path = f"{base}.{'maxReplicas' if pool.autoscaled else 'replicas'}"
        found.append(
            Problem(
                path=path,
                message=f"is more than the {AKS_MAX_NODES_PER_POOL} nodes an AKS pool takes",
                value=high,
                hint="split the pool in two",
            )
        )
    return found


def _aks_ranges(cluster: ClusterSpec, config: AzureConfig) -> list[Problem]:
    found = []
    for key, blocks in (("pods", cluster.network.pods), ("services", cluster.network.services)):
        if len(blocks) > 1:
            found.append(
                Problem(
                    path=f"network.{key}", message="lists more than one range; AKS takes one", value=list(blocks), hint="keep one (IPv4)"
                )
            )
        for block in blocks:
            reserved = [r for r in AKS_RESERVED_RANGES if cidrs_overlap(block, r)]
            if reserved:
                found.append(
                    Problem(
                        path=f"network.{key}",
                        message=f"{block} overlaps {', '.join(reserved)}, which AKS keeps for itself",
                        value=block,
                        hint="pick another private range",
                    )
                )
    vnet = (config.vnet.cidr_blocks or (CAPZ_VNET_CIDR,))[0]
    reserved = [r for r in AKS_RESERVED_RANGES if cidrs_overlap(vnet, r)]
    if reserved:
        found.append(
            Problem(
                path="azure.vnet.cidrBlocks",
                message=f"{vnet} overlaps {', '.join(reserved)}, which AKS keeps for itself",
                value=vnet,
                hint="pick another private range",
            )
        )
    node_subnet = config.subnets.effective_cidrs("node")[0]
    for block in cluster.network.services:
        if cidrs_overlap(block, node_subnet):
            found.append(
                Problem(
                    path="network.services",
                    message=f"{block} overlaps the node subnet {node_subnet}; AKS refuses that",
                    value=block,
                    hint="keep the service range outside the vnet",
                )
            )
    return found
