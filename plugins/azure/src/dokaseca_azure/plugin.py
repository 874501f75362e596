"""Hook implementations of the Azure provider. Imports no Azure SDK."""

from __future__ import annotations

from typing import Any

from dokaseca import hookimpl
from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec, GitOpsMetadata, InfraResult, ProviderInfo, ProviderManifests

PROVIDER = "azure"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            # A path, not the class: its module is imported only when a fleet uses azure.
            config_type="dokaseca_azure.config:AzureConfig",
            flavors=("kubeadm", "aks"),
            clusterclass_flavors=("kubeadm", "aks"),
            sdk_modules=(
                "azure.identity",
                "azure.mgmt.resource",
                "azure.mgmt.resource.subscriptions",
                "azure.mgmt.network",
                "azure.mgmt.containerservice",
                "azure.mgmt.compute",
                "azure.mgmt.msi",
            ),
            capi_provider="azure",
            requires_region=True,  # the Azure location
            description="Microsoft Azure through Cluster API Provider Azure (CAPZ): self-managed kubeadm or AKS",
            docs_url="https://capz.sigs.k8s.io/",
        )
    )


@hookimpl
def check_cluster(cluster: ClusterSpec, provider: ProviderInfo) -> list[Problem] | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_azure.checks import problems

    return problems(cluster)


@hookimpl
def prepare_infrastructure(cluster: ClusterSpec, provider: ProviderInfo, dry_run: bool) -> InfraResult | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_azure.prepare import prepare  # imports the Azure SDK on first use

    return prepare(cluster, dry_run=dry_run)


@hookimpl
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_azure import manifests  # loaded when an Azure cluster is rendered, not at start-up

    return manifests.render(cluster, infra)


@hookimpl
def modify_manifests(cluster: ClusterSpec, manifests: list[dict[str, Any]]) -> None:
    # Stopgap until KubeadmSettings can carry per-pool files, disk setup and
    # ClusterClass patches: see dokaseca_azure.manifests.complete_kubeadm.
    if cluster.provider != PROVIDER or cluster.managed:
        return
    from dokaseca_azure.manifests import complete_kubeadm

    complete_kubeadm(cluster, manifests)


@hookimpl
def gitops_metadata(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> GitOpsMetadata | None:
    """The GitOps Bridge's Azure keys: only what ``prepare`` found (ids, names), never a credential."""
    if provider.name != PROVIDER:
        return None
    from dokaseca_azure.names import resource_group

    outputs = infra.outputs
    config = cluster.provider_config
    annotations = {
        "azure_cluster_name": cluster.name,
        "azure_location": cluster.region or "",
        "azure_resource_group": outputs.get("resource_group") or resource_group(cluster),
    }
    # Offline, the fleet file's: prepare refuses an identity tenant that is not the subscription's.
    for key, fallback in (("subscription_id", config.subscription_id), ("tenant_id", config.identity.tenant_id)):
        if outputs.get(key) or fallback:
            annotations[f"azure_{key}"] = outputs.get(key) or fallback
    for addon, identity in sorted((outputs.get("addon_identities") or {}).items()):
        if identity.get("client_id"):
            annotations[f"{addon}_client_id"] = identity["client_id"]
        annotations[f"{addon}_namespace"] = identity["namespace"]
        annotations[f"{addon}_service_account"] = identity["service_account"]
    return GitOpsMetadata(labels={"azure_cluster_name": cluster.name}, annotations=annotations)
