"""Frozen attrs models: the fleet file as written, a cluster's effective
settings, and the values that pass between the core and plugins.

Field names are snake_case here and camelCase in YAML (``kubernetes_version``
is written ``kubernetesVersion``); :mod:`dokaseca.config` does the mapping.
"""

import functools
import importlib
from typing import Any, Mapping, Optional, Union

import attrs

from dokaseca import validators as v

FLEET_API_VERSION = "dokaseca.io/v1alpha1"
FLEET_KIND = "Fleet"
DEFAULT_FLAVOR = "kubeadm"
MODES = ("classic", "clusterclass")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


# -------------------------------------------------------------------------
# The fleet file as written. Blueprint fields are all optional: a layer sets
# only what it changes, and the layers are merged per cluster.
# -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Taint:
    key: str
    value: str = ""
    effect: str = attrs.field(default="NoSchedule", validator=v.one_of(*TAINT_EFFECTS))


@attrs.frozen(kw_only=True)
class WorkerPoolLayer:
    name: str = attrs.field(validator=v.dns_label)
    replicas: Optional[int] = attrs.field(default=None, validator=v.non_negative)
    min_replicas: Optional[int] = attrs.field(default=None, validator=v.non_negative)
    max_replicas: Optional[int] = attrs.field(default=None, validator=v.positive)
    machine_size: Optional[str] = None
    failure_domain: Optional[str] = None
    labels: Optional[dict[str, str]] = None
    taints: Optional[tuple[Taint, ...]] = None


@attrs.frozen(kw_only=True)
class ControlPlaneLayer:
    replicas: Optional[int] = attrs.field(default=None, validator=v.positive)
    machine_size: Optional[str] = None


@attrs.frozen(kw_only=True)
class NetworkLayer:
    pods: Optional[tuple[str, ...]] = attrs.field(default=None, validator=v.cidrs)
    services: Optional[tuple[str, ...]] = attrs.field(default=None, validator=v.cidrs)
    service_domain: Optional[str] = None


@attrs.frozen(kw_only=True)
class Blueprint:
    """What an environment (or the fleet defaults, or a cluster) sets."""

    kubernetes_version: Optional[str] = attrs.field(default=None, validator=v.kubernetes_version)
    control_plane: Optional[ControlPlaneLayer] = None
    workers: Optional[tuple[WorkerPoolLayer, ...]] = None
    addons: Optional[dict[str, bool]] = None
    network: Optional[NetworkLayer] = None
    health_checks: Optional[bool] = None


@attrs.frozen(kw_only=True)
class ClusterEntry(Blueprint):
    """One entry of ``clusters:``; its blueprint fields override the environment's."""

    name: str = attrs.field(validator=v.dns_label)
    environment: str
    provider: str
    region: Optional[str] = None
    flavor: str = DEFAULT_FLAVOR
    mode: str = attrs.field(default="classic", validator=v.one_of(*MODES))


@attrs.frozen(kw_only=True)
class RepoRef:
    url: str
    revision: str = "HEAD"
    base_path: str = ""
    path: str = "bootstrap"


@attrs.frozen(kw_only=True)
class GitOpsSpec:
    engine: str = attrs.field(default="argocd", validator=v.one_of("argocd", "flux"))
    topology: str = attrs.field(default="standalone", validator=v.one_of("standalone", "hub-spoke"))
    hub: Optional[str] = None
    addons: Optional[RepoRef] = None
    workloads: Optional[RepoRef] = None
    # The engine's release install manifest: a pinned version of the default
    # URL, or a URL/path of one's own (installManifest wins over version).
    version: Optional[str] = None
    install_manifest: Optional[str] = None
    # Hub/spoke: bind the spoke's argocd-manager ServiceAccount to this existing
    # ClusterRole instead of the all-resources one `argocd cluster add` creates.
    spoke_cluster_role: Optional[str] = None


@attrs.frozen(kw_only=True)
class ManagementSpec:
    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    namespaces: str = attrs.field(
        default="per-environment", validator=v.one_of("per-environment", "per-cluster")
    )
    namespace_prefix: str = ""


@attrs.frozen(kw_only=True)
class FleetMetadata:
    name: str = attrs.field(validator=v.dns_label)


@attrs.frozen(kw_only=True)
class FleetFile:
    api_version: str = attrs.field(validator=v.one_of(FLEET_API_VERSION))
    kind: str = attrs.field(validator=v.one_of(FLEET_KIND))
    metadata: FleetMetadata
    defaults: Blueprint = Blueprint()
    environments: dict[str, Blueprint] = attrs.field(factory=dict)
    clusters: tuple[ClusterEntry, ...] = ()
    gitops: Optional[GitOpsSpec] = None
    management: ManagementSpec = ManagementSpec()


# -------------------------------------------------------------------------
# A cluster's effective settings: every layer merged. This is what hooks get.
# -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WorkerPool:
    name: str
    replicas: Optional[int] = None
    min_replicas: Optional[int] = None
    max_replicas: Optional[int] = None
    machine_size: Optional[str] = None
    failure_domain: Optional[str] = None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    taints: tuple[Taint, ...] = ()

    @property
    def autoscaled(self) -> bool:
        return self.min_replicas is not None or self.max_replicas is not None


@attrs.frozen(kw_only=True)
class ControlPlane:
    replicas: int
    machine_size: Optional[str] = None


@attrs.frozen(kw_only=True)
class ClusterNetwork:
    pods: tuple[str, ...]
    services: tuple[str, ...]
    service_domain: str = "cluster.local"


@attrs.frozen(kw_only=True)
class ClusterSpec:
    """Everything the toolkit knows about one cluster after layering."""

    name: str
    fleet: str
    environment: str
    namespace: str
    provider: str
    region: Optional[str]
    flavor: str
    mode: str
    kubernetes_version: str
    control_plane: ControlPlane
    workers: tuple[WorkerPool, ...]
    addons: Mapping[str, bool]
    network: ClusterNetwork
    health_checks: bool
    provider_config: Any = None
    gitops: Optional[GitOpsSpec] = None
    source: str = ""  # the fleet file it came from: relative paths in provider blocks are relative to its folder

    @property
    def managed(self) -> bool:
        """True for a provider's managed control plane (EKS, AKS, GKE...)."""
        return self.flavor != DEFAULT_FLAVOR


# -------------------------------------------------------------------------
# Values that pass between the core and plugins.
# -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ProviderInfo:
    """A provider a plugin offers, passed to ``register(...)``.

    :param name: the key used in fleet files (``provider: aws`` and the
        ``aws:`` block), a DNS-1123 label.
    :param config_type: attrs class that validates the provider block, or
        its import path (``"dokaseca_aws.config:AwsConfig"``) so that listing
        plugins and loading a fleet that does not use the provider never
        import the class's module.
    :param flavors: ``"kubeadm"`` (self-managed) and/or managed services
        (``"eks"``); the first is the default.
    :param clusterclass_flavors: flavors that also render in ClusterClass mode.
    :param sdk_modules: top-level import names of the SDK, checked with
        ``importlib.util.find_spec`` and never imported by the core.
    :param capi_provider: the clusterctl infrastructure provider name.
    :param requires_region: whether clusters must set ``region``.
    """

    name: str = attrs.field(validator=v.dns_label)
    config_type: Union[type, str]
    flavors: tuple[str, ...] = (DEFAULT_FLAVOR,)
    clusterclass_flavors: tuple[str, ...] = (DEFAULT_FLAVOR,)
    sdk_modules: tuple[str, ...] = ()
    capi_provider: str = ""
    requires_region: bool = True
    description: str = ""
    docs_url: str = ""
    plugin: str = ""  # filled in by the core: the plugin that registered it

    def config_class(self) -> type:
        """The config class, imported on first use when given as a path."""
        if isinstance(self.config_type, str):
            return _import_path(self.config_type)
        return self.config_type


@functools.lru_cache(maxsize=None)
def _import_path(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@attrs.frozen(kw_only=True)
class InfraResult:
    """What ``prepare_infrastructure`` found or made (ids, ARNs, endpoints).

    ``actions`` lists what was changed, or in a dry run what would be.
    """

    outputs: Mapping[str, Any] = attrs.field(factory=dict)
    actions: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class KubeadmSettings:
    """Provider tweaks to the core's kubeadm objects.

    :param kubelet_args: extra kubelet flags on every node (``cloud-provider``).
    :param controller_manager_args: extra kube-controller-manager flags.
    :param api_server_args: extra kube-apiserver flags.
    :param node_name: the node name template (``'{{ ds.meta_data.local_hostname }}'``).
    :param control_plane_files: files written on control-plane nodes
        (a kube-vip static pod, for example), in KubeadmConfigSpec form.
    :param pre_kubeadm_commands: commands run before kubeadm on every node.
    :param control_plane_pre_kubeadm_commands: run before kubeadm on
        control-plane nodes only, after ``pre_kubeadm_commands``.
    :param control_plane_post_kubeadm_commands: run after kubeadm on
        control-plane nodes only.
    :param users: OS users created on every node (KubeadmConfigSpec form:
        ``name``, ``sshAuthorizedKeys``, ``sudo``); public keys only.

    A ``node-labels`` kubelet argument is joined with the pool's labels, not
    replaced by them.
    """

    kubelet_args: Mapping[str, str] = attrs.field(factory=dict)
    controller_manager_args: Mapping[str, str] = attrs.field(factory=dict)
    api_server_args: Mapping[str, str] = attrs.field(factory=dict)
    node_name: Optional[str] = None
    control_plane_files: tuple[Mapping[str, Any], ...] = ()
    pre_kubeadm_commands: tuple[str, ...] = ()
    control_plane_pre_kubeadm_commands: tuple[str, ...] = ()
    control_plane_post_kubeadm_commands: tuple[str, ...] = ()
    users: tuple[Mapping[str, Any], ...] = ()


@attrs.frozen(kw_only=True)
class ProviderManifests:
    """What ``render_provider_manifests`` returns for one cluster.

    :param infrastructure_cluster: the object ``Cluster.spec.infrastructureRef``
        points at (``AWSCluster``; ``AWSClusterTemplate`` in ClusterClass mode).
    :param control_plane_machine_template: the machine template of the
        KubeadmControlPlane; None for managed flavors.
    :param worker_machine_templates: worker pool name -> machine template.
    :param control_plane: managed flavors only: the control-plane object that
        replaces the KubeadmControlPlane (``AWSManagedControlPlane``).
    :param machine_pools: managed flavors only: complete MachinePool objects
        and their infrastructure objects, one set per worker pool.
    :param control_plane_template: managed flavors in ClusterClass mode: the
        template the ClusterClass's control plane points at
        (``AWSManagedControlPlaneTemplate``), instead of the core's
        KubeadmControlPlaneTemplate.
    :param worker_bootstrap_templates: worker pool name -> bootstrap config
        template (``NodeadmConfigTemplate``) used instead of the core's
        KubeadmConfigTemplate; ClusterClass mode, managed flavors.
    :param worker_machine_pool_templates: ClusterClass mode: worker pool name ->
        the infrastructure template of a MachinePool class
        (``AzureManagedMachinePoolTemplate``), for pools the cloud runs as node
        pools; the core renders a MachinePool class and topology entry for
        them instead of a MachineDeployment one.
    :param worker_replicas: ClusterClass mode: worker pool name -> the size a
        pool the cloud scales itself starts at. Its topology entry then carries
        these replicas and no cluster-autoscaler annotations.
    :param control_plane_naming: ClusterClass mode: the name template of the
        control-plane object (``{{ .cluster.name }}``), for clouds that name the
        managed cluster after it.
    :param extra: identities and other objects, applied before the rest.
    :param kubeadm: tweaks to the kubeadm objects the core renders.
    """

    infrastructure_cluster: Mapping[str, Any]
    control_plane_machine_template: Optional[Mapping[str, Any]] = None
    worker_machine_templates: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    control_plane: Optional[Mapping[str, Any]] = None
    machine_pools: tuple[Mapping[str, Any], ...] = ()
    control_plane_template: Optional[Mapping[str, Any]] = None
    worker_bootstrap_templates: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    worker_machine_pool_templates: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    worker_replicas: Mapping[str, int] = attrs.field(factory=dict)
    control_plane_naming: Optional[str] = None
    extra: tuple[Mapping[str, Any], ...] = ()
    kubeadm: KubeadmSettings = KubeadmSettings()


@attrs.frozen(kw_only=True)
class GitOpsMetadata:
    """Labels and annotations for a cluster's GitOps Bridge registration."""

    labels: Mapping[str, str] = attrs.field(factory=dict)
    annotations: Mapping[str, str] = attrs.field(factory=dict)

    def merged_under(self, other: "GitOpsMetadata") -> "GitOpsMetadata":
        """Keys already in ``self`` win; ``other`` fills the gaps."""
        return GitOpsMetadata(
            labels={**other.labels, **self.labels},
            annotations={**other.annotations, **self.annotations},
        )


@attrs.frozen(kw_only=True)
class BootstrapResult:
    engine: str
    ready: bool
    message: str = ""


@attrs.frozen(kw_only=True)
class CheckResult:
    ok: bool
    summary: str
    hint: str = ""
