"""A provider that lives only in the tests: small, but shaped like a real one."""

import textwrap
from typing import Optional

import attrs

from dokaseca import hookimpl
from dokaseca.manifests import k8s_object, versioned_name
from dokaseca.models import InfraResult, KubeadmSettings, ProviderInfo, ProviderManifests
from dokaseca.validators import one_of

API = "infrastructure.example.io/v1alpha1"


@attrs.frozen(kw_only=True)
class FakeConfig:
    size: str = attrs.field(default="small", validator=one_of("small", "large"))
    zone: Optional[str] = None
    image_name: str = "ubuntu"
    node_pools: bool = False  # managed flavor, ClusterClass mode: workers as MachinePool classes the cloud scales


@hookimpl
def register_providers(register):
    register(
        ProviderInfo(
            name="fake",
            config_type=FakeConfig,
            flavors=("kubeadm", "managed"),
            clusterclass_flavors=("kubeadm", "managed"),
            sdk_modules=("fakesdk",),
            description="a provider for tests",
        )
    )


@hookimpl
def check_cluster(cluster, provider):
    if provider.name != "fake":
        return None
    zone = cluster.provider_config.zone
    if zone and cluster.region and not zone.startswith(cluster.region):
        from dokaseca.errors import Problem

        return [Problem(path="fake.zone", message=f"is not in region {cluster.region!r}", value=zone)]
    return []


@hookimpl
def render_provider_manifests(cluster, provider, infra: InfraResult):
    if provider.name != "fake":
        return None
    ns = cluster.namespace
    kind = "FakeClusterTemplate" if cluster.mode == "clusterclass" else "FakeCluster"
    spec = {"template": {"spec": {"zone": cluster.provider_config.zone}}} if cluster.mode == "clusterclass" else {"zone": cluster.provider_config.zone}
    infra_cluster = k8s_object(API, kind, cluster.name, ns, spec=spec)

    def template(name, size):
        spec = {"template": {"spec": {"size": size, "image": cluster.provider_config.image_name}}}
        return k8s_object(API, "FakeMachineTemplate", versioned_name(name, spec), ns, spec=spec)
    if cluster.flavor == "managed" and cluster.mode == "clusterclass":
        cp_spec = {"template": {"spec": {"version": cluster.kubernetes_version}}}
        control_plane_template = k8s_object(
            "controlplane.example.io/v1alpha1", "FakeManagedControlPlaneTemplate", versioned_name(f"{cluster.name}-cp", cp_spec), ns, spec=cp_spec
        )
        boot_spec = {"template": {"spec": {}}}
        node_pools = {}
        if cluster.provider_config.node_pools:
            node_pools = dict(
                worker_machine_pool_templates={p.name: template(f"{cluster.name}-{p.name}-pool", p.machine_size or "small") for p in cluster.workers},
                worker_replicas={p.name: p.min_replicas for p in cluster.workers if p.autoscaled},
                control_plane_naming="{{ .cluster.name }}",
            )
        return ProviderManifests(
            infrastructure_cluster=infra_cluster,
            control_plane_template=control_plane_template,
            **node_pools,
            worker_machine_templates={p.name: template(f"{cluster.name}-{p.name}", p.machine_size or "small") for p in cluster.workers},
            worker_bootstrap_templates={
                p.name: k8s_object("bootstrap.example.io/v1alpha1", "FakeConfigTemplate", versioned_name(f"{cluster.name}-{p.name}", boot_spec), ns, spec=boot_spec)
                for p in cluster.workers
            },
        )
    if cluster.flavor == "managed":
        control_plane = k8s_object("controlplane.example.io/v1alpha1", "FakeManagedControlPlane", f"{cluster.name}-cp", ns, spec={"version": cluster.kubernetes_version})
        pools = tuple(
            k8s_object(API, "FakeManagedPool", f"{cluster.name}-{p.name}", ns, spec={"size": p.machine_size or "small"})
            for p in cluster.workers
        )
        return ProviderManifests(infrastructure_cluster=infra_cluster, control_plane=control_plane, machine_pools=pools)

    return ProviderManifests(
        infrastructure_cluster=infra_cluster,
        control_plane_machine_template=template(f"{cluster.name}-control-plane", cluster.control_plane.machine_size or cluster.provider_config.size),
        worker_machine_templates={p.name: template(f"{cluster.name}-{p.name}", p.machine_size or cluster.provider_config.size) for p in cluster.workers},
        kubeadm=KubeadmSettings(kubelet_args={"cloud-provider": "external"}, node_name="{{ ds.meta_data.local_hostname }}"),
    )


BASE_FLEET = textwrap.dedent(
    """
    apiVersion: dokaseca.io/v1alpha1
    kind: Fleet
    metadata:
      name: test
    defaults:
      kubernetesVersion: v1.33.1
      workers:
        - name: general
          replicas: 2
    clusters:
      - name: dev-1
        environment: dev
        provider: fake
        region: local
    """
)
