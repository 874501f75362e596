"""What the cluster asks of its location, checked before anything is made: the
VM sizes (offered there, and to this subscription), and for AKS the
Kubernetes version. Each list is read once per subscription and location."""

from __future__ import annotations

from typing import Any

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.validators import did_you_mean

from dokaseca_azure.config import AzureConfig
from dokaseca_azure.session import Azure

_skus = Once()
_aks_versions = Once()


def check_vm_sizes(azure: Azure, cluster: ClusterSpec) -> None:
    """Every VM size the cluster uses exists in its location and is not restricted
    for the subscription (there, or in a pool's zone); all problems at once."""
    offered = _skus.value((azure.subscription_id, azure.location), lambda: _vm_skus(azure))
    problems = []
    for field, size, zone in _sizes(cluster):
        sku = offered.get(size.lower())
        if sku is None:
            problems.append(
                f"{field} {size!r} is not a VM size offered in {azure.location}; {did_you_mean(size, (s.name for s in offered.values()))}"
            )
            continue
        for restriction in sku.restrictions or ():
            info = restriction.restriction_info
            # Azure's word ("NotAvailableForSubscription"), not the SDK enum's name.
            reason = getattr(restriction.reason_code, "value", restriction.reason_code)
            if restriction.type == "Location" and azure.location in [p.lower() for p in (info.locations if info else None) or ()]:
                problems.append(f"{field} {size!r} is not available to subscription {azure.subscription_id} in {azure.location} ({reason})")
            elif restriction.type == "Zone" and zone and zone in ((info.zones if info else None) or ()):
                problems.append(f"{field} {size!r} is not available to this subscription in zone {zone} of {azure.location} ({reason})")
    if problems:
        raise ProviderError(
            f"cluster {cluster.name}: "
            + "; ".join(problems)
            + f". Pick sizes from `az vm list-skus -l {azure.location} --resource-type virtualMachines -o table`"
            " (a restricted size may be requested through a support ticket)"
        )


def check_kubernetes_version(azure: Azure, cluster: ClusterSpec) -> None:
    """For AKS: the cluster's version is one AKS offers in its location."""
    if cluster.flavor != "aks":
        return
    offered = _aks_versions.value((azure.subscription_id, azure.location), lambda: _aks_patches(azure))
    wanted = cluster.kubernetes_version.removeprefix("v")
    if wanted in offered:
        return
    listed = ", ".join(f"{v} (preview)" if preview else v for v, preview in sorted(offered.items(), key=lambda i: _version_key(i[0])))
    raise ProviderError(
        f"cluster {cluster.name}: kubernetesVersion {cluster.kubernetes_version} is not offered by AKS in {azure.location}; "
        f"offered: {listed or 'none'}. Set kubernetesVersion to one of them (`az aks get-versions -l {azure.location} -o table`)"
    )


def _sizes(cluster: ClusterSpec) -> list[tuple[str, str, str]]:
    """(field path, VM size, zone or '') for the control plane (kubeadm) and every pool."""
    config: AzureConfig = cluster.provider_config
    found = []
    if not cluster.managed:
        size = cluster.control_plane.machine_size
        found.append(("controlPlane.machineSize" if size else "azure.vmSize", size or config.vm_size, ""))
    for pool in cluster.workers:
        size = pool.machine_size
        found.append((f"workers.{pool.name}.machineSize" if size else "azure.vmSize", size or config.vm_size, pool.failure_domain or ""))
    # One line per field and size, however many pools share the default.
    return list(dict.fromkeys(found))


def _vm_skus(azure: Azure) -> dict[str, Any]:
    skus = azure.client("compute").resource_skus.list(filter=f"location eq '{azure.location}'")
    return {sku.name.lower(): sku for sku in skus if sku.resource_type == "virtualMachines" and sku.name}


def _aks_patches(azure: Azure) -> dict[str, bool]:
    """Patch version -> whether it is a preview."""
    answer = azure.client("containerservice").managed_clusters.list_kubernetes_versions(azure.location)
    return {patch: bool(minor.is_preview) for minor in answer.values_property or () for patch in (minor.patch_versions or {})}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
