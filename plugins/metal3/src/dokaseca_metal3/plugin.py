"""Hook implementations of the Metal3 (bare-metal) provider. Imports no Kubernetes SDK."""

from __future__ import annotations

from dokaseca import hookimpl
from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec, InfraResult, ProviderInfo, ProviderManifests

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
