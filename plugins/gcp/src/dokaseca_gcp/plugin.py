"""Hook implementations of the Google Cloud provider. Imports no Google Cloud SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dokaseca import hookimpl
from dokaseca.models import ClusterSpec, GitOpsMetadata, InfraResult, ProviderInfo, ProviderManifests

if TYPE_CHECKING:
    from dokaseca.errors import Problem

PROVIDER = "gcp"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            # A path, not the class: its module is imported only when a fleet uses gcp.
            config_type="dokaseca_gcp.config:GcpConfig",
            flavors=("kubeadm", "gke"),
            clusterclass_flavors=("kubeadm", "gke"),
            sdk_modules=("google.cloud.compute_v1", "google.cloud.container_v1", "google.cloud.resourcemanager_v3", "google.auth"),
            capi_provider="gcp",
            requires_region=True,
            description="Google Cloud through Cluster API Provider GCP (CAPG): self-managed kubeadm or GKE",
            docs_url="https://cluster-api-gcp.sigs.k8s.io/",
        )
    )


@hookimpl
def check_cluster(cluster: ClusterSpec, provider: ProviderInfo) -> list[Problem] | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_gcp.checks import problems  # loaded when a fleet uses gcp, not at start-up

    return problems(cluster)


@hookimpl
def prepare_infrastructure(cluster: ClusterSpec, provider: ProviderInfo, dry_run: bool) -> InfraResult | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_gcp.prepare import prepare  # the Google Cloud libraries load on its first call

    return prepare(cluster, dry_run=dry_run)


@hookimpl
def gitops_metadata(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> GitOpsMetadata | None:
    """The GitOps Bridge's GCP keys; only what ``prepare`` found (names, emails), never a credential."""
    if provider.name != PROVIDER:
        return None
    outputs = infra.outputs
    config = cluster.provider_config
    annotations = {
        "gcp_cluster_name": cluster.name,
        "gcp_project_id": outputs.get("project_id") or config.project,
        "gcp_region": outputs.get("region") or cluster.region or "",
        "gcp_network": outputs.get("network") or config.network.name_for(cluster.fleet, cluster.environment),
    }
    for addon, account in sorted((outputs.get("addon_service_accounts") or {}).items()):
        annotations[f"{addon}_gcp_service_account"] = account["email"]
        annotations[f"{addon}_namespace"] = account["namespace"]
        annotations[f"{addon}_service_account"] = account["service_account"]
    return GitOpsMetadata(labels={"gcp_cluster_name": cluster.name}, annotations=annotations)


@hookimpl
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_gcp import manifests  # loaded when a GCP cluster is rendered, not at start-up

    return manifests.render(cluster, infra)


