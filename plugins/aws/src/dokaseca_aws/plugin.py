"""Hook implementations of the AWS provider. Imports no AWS SDK: boto3 is
loaded inside ``dokaseca_aws.prepare``, which only ``prepare`` reaches."""

from __future__ import annotations

from dokaseca import hookimpl
from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec, GitOpsMetadata, InfraResult, ProviderInfo, ProviderManifests

PROVIDER = "aws"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            # A path, not the class: its module is imported only when a fleet uses aws.
            config_type="dokaseca_aws.config:AwsConfig",
            flavors=("kubeadm", "eks"),
            clusterclass_flavors=("kubeadm", "eks"),
            sdk_modules=("boto3", "botocore"),
            capi_provider="aws",
            requires_region=True,
            description="Amazon Web Services through Cluster API Provider AWS (CAPA): self-managed kubeadm or EKS",
            docs_url="https://cluster-api-aws.sigs.k8s.io/",
        )
    )


@hookimpl
def check_cluster(cluster: ClusterSpec, provider: ProviderInfo) -> list[Problem] | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_aws.checks import problems

    return problems(cluster)


@hookimpl
def prepare_infrastructure(cluster: ClusterSpec, provider: ProviderInfo, dry_run: bool) -> InfraResult | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_aws.prepare import prepare  # imports boto3

    return prepare(cluster, dry_run=dry_run)


@hookimpl
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_aws import manifests  # loaded when an AWS cluster is rendered, not at start-up

    return manifests.render(cluster, infra)


@hookimpl
def gitops_metadata(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> GitOpsMetadata | None:
    """The GitOps Bridge's AWS keys; only what ``prepare`` found (ids, ARNs), never a credential."""
    if provider.name != PROVIDER:
        return None
    outputs = infra.outputs
    annotations = {"aws_cluster_name": cluster.name, "aws_region": cluster.region or ""}
    if outputs.get("account_id"):
        annotations["aws_account_id"] = outputs["account_id"]
    if outputs.get("vpc_id") or cluster.provider_config.vpc_id:
        annotations["aws_vpc_id"] = outputs.get("vpc_id") or cluster.provider_config.vpc_id
    for addon, role in sorted((outputs.get("addon_roles") or {}).items()):
        annotations[f"{addon}_iam_role_arn"] = role["arn"]
        annotations[f"{addon}_namespace"] = role["namespace"]
        annotations[f"{addon}_service_account"] = role["service_account"]
    return GitOpsMetadata(labels={"aws_cluster_name": cluster.name}, annotations=annotations)
