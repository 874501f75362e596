"""What the cluster asks of its location, checked before anything is made: the
VM sizes (offered there, and to this subscription), and for AKS the
Kubernetes version. Each list is read once per subscription and location."""

from __future__ import annotations

from typing import Any, Optional

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.validators import did_you_mean

from dokaseca_azure import names
from dokaseca_azure.config import AzureConfig
from dokaseca_azure.session import Azure

_skus = Once()
OFFICIAL_PLAN = "KubernetesOfficial"  # AKS's standard support; "AKSLongTermSupport" needs the Premium tier
PREVIEW = "preview"
LTS_ONLY = "long-term support only"

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
        zones = _zones_offered(sku, azure.location)
        if zone and zones is not None and zone not in zones:
            offered_in = f"only in zones {', '.join(sorted(zones))}" if zones else "in no zone (a regional size)"
            problems.append(f"{field} {size!r} is offered in {azure.location} {offered_in}, not in zone {zone}")
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
    if offered.get(wanted) in ("", PREVIEW):
        return
    usable = {v: note for v, note in offered.items() if note != LTS_ONLY}
    listed = ", ".join(f"{v} ({note})" if note else v for v, note in sorted(usable.items(), key=lambda i: _version_key(i[0])))
    why = (
        f"is offered by AKS in {azure.location} only with long-term support, which needs the Premium tier; "
        "CAPZ v1.26's AzureManagedControlPlane cannot ask for it (its sku.tier has no Premium)"
        if offered.get(wanted) == LTS_ONLY
        else f"is not offered by AKS in {azure.location}"
    )
    raise ProviderError(
        f"cluster {cluster.name}: kubernetesVersion {cluster.kubernetes_version} {why}; "
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


def _zones_offered(sku: Any, location: str) -> Optional[set[str]]:
    """The zones of ``location`` the size is offered in; None when Azure does not say."""
    for info in sku.location_info or ():
        if names.location(info.location) == location:
            return set(info.zones or ())
    return None


def _vm_skus(azure: Azure) -> dict[str, Any]:
    skus = azure.client("compute").resource_skus.list(filter=f"location eq '{azure.location}'")
    return {sku.name.lower(): sku for sku in skus if sku.resource_type == "virtualMachines" and sku.name}


def _aks_patches(azure: Azure) -> dict[str, str]:
    """Patch version -> "" (generally available), PREVIEW, or LTS_ONLY (offered
    only under AKS long-term support)."""
    answer = azure.client("containerservice").managed_clusters.list_kubernetes_versions(azure.location)
    found = {}
    for minor in answer.values_property or ():
        plans = {str(getattr(plan, "value", plan)) for plan in (minor.capabilities.support_plan or ())} if minor.capabilities else set()
        note = LTS_ONLY if plans and OFFICIAL_PLAN not in plans else PREVIEW if minor.is_preview else ""
        found.update({patch: note for patch in minor.patch_versions or {}})
    return found


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
