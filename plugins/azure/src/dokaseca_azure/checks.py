"""Checks of an Azure cluster that need more than the ``azure:`` block
(``check_cluster``): every problem is reported, at its path relative to the
cluster entry."""

from __future__ import annotations

import re

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec
from dokaseca.validators import cidrs_overlap

from dokaseca_azure.config import AZURE_ZONES, AzureConfig, vm_size_problem

_LOCATION = re.compile(r"^[a-z0-9]+$")


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
    found += _failure_domains(cluster, config)
    found += _pod_overlaps(cluster, config)
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


def _pod_overlaps(cluster: ClusterSpec, config: AzureConfig) -> list[Problem]:
    """Pod addresses inside the Azure network would be unreachable."""
    node_ranges = [
        *config.vnet.cidr_blocks,
        *config.subnets.effective_cidrs("control-plane"),
        *config.subnets.effective_cidrs("node"),
    ]
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
