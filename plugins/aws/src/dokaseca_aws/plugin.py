"""Hook implementations of the AWS provider. Imports no AWS SDK."""

from __future__ import annotations

from dokaseca import hookimpl
from dokaseca.models import ClusterSpec, InfraResult, ProviderInfo, ProviderManifests

PROVIDER = "aws"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            # A path, not the class: its module is imported only when a fleet uses aws.
            config_type="dokaseca_aws.config:AwsConfig",
            flavors=("kubeadm",),
            sdk_modules=("boto3", "botocore"),
            capi_provider="aws",
            description="Amazon Web Services through Cluster API Provider AWS (CAPA)",
            docs_url="https://cluster-api-aws.sigs.k8s.io/",
        )
    )


@hookimpl
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_aws import manifests  # loaded when an AWS cluster is rendered, not at start-up

    return manifests.render(cluster, infra)
