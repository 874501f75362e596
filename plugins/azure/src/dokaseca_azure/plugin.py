"""Hook implementations of the Azure provider. Imports no Azure SDK."""

from __future__ import annotations

from typing import Any

from dokaseca import hookimpl
from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec, InfraResult, ProviderInfo, ProviderManifests

PROVIDER = "azure"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            # A path, not the class: its module is imported only when a fleet uses azure.
            config_type="dokaseca_azure.config:AzureConfig",
            flavors=("kubeadm",),
            sdk_modules=("azure.identity", "azure.mgmt.resource", "azure.mgmt.network", "azure.mgmt.containerservice"),
            capi_provider="azure",
            requires_region=True,  # the Azure location
            description="Microsoft Azure through Cluster API Provider Azure (CAPZ)",
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
