"""Hook implementations of the Google Cloud provider. Imports no Google Cloud SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dokaseca import hookimpl
from dokaseca.models import ClusterSpec, InfraResult, ProviderInfo, ProviderManifests

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
            flavors=("kubeadm",),
            sdk_modules=("google.cloud.compute_v1", "google.cloud.container_v1", "google.auth"),
            capi_provider="gcp",
            requires_region=True,
            description="Google Cloud through Cluster API Provider GCP (CAPG)",
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
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_gcp import manifests  # loaded when a GCP cluster is rendered, not at start-up

    return manifests.render(cluster, infra)
