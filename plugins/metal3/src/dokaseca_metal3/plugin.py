"""Hook implementations of the Metal3 (bare-metal) provider. Imports no Kubernetes SDK:
the client is loaded inside ``dokaseca_metal3.prepare``, which only ``prepare`` reaches."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dokaseca import hookimpl
from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec, GitOpsMetadata, InfraResult, ProviderInfo, ProviderManifests

if TYPE_CHECKING:
    from dokaseca.kube import ManagementCluster

PROVIDER = "metal3"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            # A path, not the class: its module is imported only when a fleet uses metal3.
            config_type="dokaseca_metal3.config:Metal3Config",
            flavors=("kubeadm",),
            # prepare (registering BareMetalHosts) talks to the management cluster.
            sdk_modules=("kubernetes",),
            capi_provider="metal3",
            requires_region=False,
            description="Bare-metal servers through Cluster API Provider Metal3 (CAPM3) and the Bare Metal Operator",
            docs_url="https://book.metal3.io/",
        )
    )


@hookimpl
def prepare_infrastructure(cluster: ClusterSpec, provider: ProviderInfo, dry_run: bool, management: ManagementCluster) -> InfraResult | None:
    """Register the inventory's hosts (BMC Secrets, BareMetalHosts) and check each pool finds enough of them."""
    if provider.name != PROVIDER:
        return None
    from dokaseca_metal3.prepare import prepare

    return prepare(cluster, management, dry_run=dry_run)


@hookimpl
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_metal3 import manifests  # loaded when a Metal3 cluster is rendered, not at start-up

    return manifests.render(cluster, infra)


@hookimpl
def check_cluster(cluster: ClusterSpec, provider: ProviderInfo) -> list[Problem] | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_metal3.checks import problems  # loaded when a fleet uses Metal3, not at start-up

    return problems(cluster)


@hookimpl
def gitops_metadata(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> GitOpsMetadata | None:
    """The site (a label, for ApplicationSet selectors), the racks and the API VIP; never a credential."""
    if provider.name != PROVIDER:
        return None
    from dokaseca_metal3.inventory import load_or_fail

    inventory = load_or_fail(cluster)
    annotations = {"metal3_control_plane_endpoint": str(infra.outputs.get("control_plane_endpoint") or cluster.provider_config.control_plane_endpoint)}
    labels = {}
    if inventory is not None:
        if inventory.site:
            labels["metal3_site"] = annotations["metal3_site"] = inventory.site
        racks = sorted({host.rack for _, host in inventory.serving(cluster) if host.rack})
        if racks:
            annotations["metal3_racks"] = ",".join(racks)
    return GitOpsMetadata(labels=labels, annotations=annotations)
