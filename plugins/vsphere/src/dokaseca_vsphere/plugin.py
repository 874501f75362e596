"""Hook implementations of the vSphere provider. Imports no vSphere SDK:
pyVmomi is loaded inside ``dokaseca_vsphere.prepare``, which only ``prepare`` reaches."""

from __future__ import annotations

from dokaseca import hookimpl
from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec, GitOpsMetadata, InfraResult, ProviderInfo, ProviderManifests

PROVIDER = "vsphere"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            # A path, not the class: its module is imported only when a fleet uses vsphere.
            config_type="dokaseca_vsphere.config:VSphereConfig",
            flavors=("kubeadm",),
            # prepare and `doctor --online` will talk to vCenter; render never does.
            sdk_modules=("pyVmomi",),
            capi_provider="vsphere",
            requires_region=False,  # vCenter has datacenters, not regions: see vsphere.datacenter
            description="VMware vSphere through Cluster API Provider vSphere (CAPV), API VIP by kube-vip",
            docs_url="https://github.com/kubernetes-sigs/cluster-api-provider-vsphere",
        )
    )


@hookimpl
def check_cluster(cluster: ClusterSpec, provider: ProviderInfo) -> list[Problem] | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_vsphere.checks import problems

    return problems(cluster)


@hookimpl
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_vsphere import manifests  # loaded when a vSphere cluster is rendered, not at start-up

    return manifests.render(cluster, infra)


@hookimpl
def prepare_infrastructure(cluster: ClusterSpec, provider: ProviderInfo, dry_run: bool) -> InfraResult | None:
    if provider.name != PROVIDER:
        return None
    from dokaseca_vsphere.prepare import prepare  # imports pyVmomi

    return prepare(cluster, dry_run=dry_run)


@hookimpl
def gitops_metadata(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> GitOpsMetadata | None:
    """Where the cluster's machines are in vCenter, as ``prepare`` found it (the fleet
    file's values offline); never a credential, nor where credentials come from."""
    if provider.name != PROVIDER:
        return None
    config = cluster.provider_config
    outputs = infra.outputs
    values = {
        "vsphere_server": config.server,
        "vsphere_datacenter": outputs.get("datacenter") or config.datacenter,
        "vsphere_control_plane_endpoint": config.control_plane_endpoint,
        "vsphere_folder": outputs.get("folder") or config.folder,
        "vsphere_resource_pool": outputs.get("resource_pool") or config.resource_pool,
    }
    return GitOpsMetadata(annotations={key: value for key, value in values.items() if value})
