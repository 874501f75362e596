"""The names of what ``prepare`` makes and ``render`` points at: one place, so
both agree without a prepare having run. Pure functions of the fleet file."""

from __future__ import annotations

import hashlib

from dokaseca.models import ClusterSpec

from dokaseca_azure.config import DEFAULT_CONTROL_PLANE_SUBNET, DEFAULT_NODE_SUBNET, AzureConfig

CAPZ_VNET_CIDR = "10.0.0.0/8"  # CAPZ's default address space
MAX_IDENTITY_NAME = 128


def environment_name(cluster: ClusterSpec) -> str:
    """``<fleet>-<environment>``: what an environment's clusters share is named so."""
    return f"{cluster.fleet}-{cluster.environment}"


def resource_group(cluster: ClusterSpec) -> str:
    """``azure.resourceGroup``, else the cluster's name (CAPZ's default) or, with
    ``resourceGroupScope: environment``, the environment's group."""
    config: AzureConfig = cluster.provider_config
    if config.resource_group:
        return config.resource_group
    return environment_name(cluster) if config.resource_group_scope == "environment" else cluster.name


def vnet(cluster: ClusterSpec) -> tuple[str, str]:
    """(resource group, name) of the cluster's vnet: ``azure.vnet``, else the
    environment's shared one with ``network.create``, else CAPZ's ``<cluster>-vnet``
    in the cluster's group."""
    config: AzureConfig = cluster.provider_config
    if config.network.create:
        default_group = default_name = environment_name(cluster)
    else:
        default_group, default_name = resource_group(cluster), f"{cluster.name}-vnet"
    return config.vnet.resource_group or default_group, config.vnet.name or default_name


def vnet_cidrs(cluster: ClusterSpec) -> tuple[str, ...]:
    return cluster.provider_config.vnet.cidr_blocks or (CAPZ_VNET_CIDR,)


def subnets(cluster: ClusterSpec) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Role (``control-plane``, ``node``) -> (subnet name, address ranges)."""
    config: AzureConfig = cluster.provider_config
    return {
        "control-plane": (
            config.subnets.control_plane.name or DEFAULT_CONTROL_PLANE_SUBNET,
            config.subnets.effective_cidrs("control-plane"),
        ),
        "node": (config.subnets.node.name or DEFAULT_NODE_SUBNET, config.subnets.effective_cidrs("node")),
    }


def addon_identity(cluster: str, addon: str) -> str:
    """``<cluster>-<addon>``; past Azure's 128 characters, cut and made unique with a digest."""
    name = f"{cluster}-{addon}"
    if len(name) <= MAX_IDENTITY_NAME:
        return name
    return f"{name[: MAX_IDENTITY_NAME - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def service_account(addon: str, configured: str) -> str:
    return configured or addon.replace("_", "-")


def location(name: str | None) -> str:
    """``westeurope`` however Azure spells it (``West Europe`` in older answers)."""
    return (name or "").replace(" ", "").lower()
