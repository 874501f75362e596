"""GKE objects for one cluster (``flavor: gke``): pure functions of its settings.

Classic mode: a ``GCPManagedCluster`` (project, network), a
``GCPManagedControlPlane`` (the GKE cluster) and per worker pool a
``MachinePool`` with a ``GCPManagedMachinePool`` (a GKE node pool, which GKE
scales, repairs and, in a release channel, upgrades). ClusterClass mode: the
same values in ``GCPManagedClusterTemplate``, ``GCPManagedControlPlaneTemplate``
and per pool a ``GCPManagedMachinePoolTemplate`` with an empty
``GKEConfigTemplate`` (GKE joins its nodes itself), used by machine-pool
classes. Autopilot clusters have no node pools: GKE makes nodes for the pods.

The GKE cluster is regional, in the cluster's region (CAPG v1.12 runs no zonal
one). A pool's ``replicas`` is its total size. GKE puts the same number of nodes
in each zone a pool spans, so CAPG refuses a pool whose size is not a multiple
of its zone count (:func:`zones_spanned`); ``dokaseca validate`` says so first.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

from dokaseca.capi import control_plane_name, node_pool_machine_pool, pool_name
from dokaseca.manifests import k8s_object, template_object, versioned_name
from dokaseca.models import ClusterSpec, InfraResult, ProviderManifests, WorkerPool

from dokaseca_gcp.config import GcpConfig, GkeSettings
from dokaseca_gcp.manifests import CAPG_VERSION, network_spec, project, shared_fields

GKE_BOOTSTRAP_VERSION = "bootstrap.cluster.x-k8s.io/v1beta1"
# A regional pool without node locations spans three zones of the region (GKE's default, and CAPG's assumption).
REGIONAL_POOL_ZONES = 3
MAX_NAME_LENGTH = 40  # GKE cluster and node pool names


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    config: GcpConfig = cluster.provider_config
    cluster_spec = {"project": project(config, infra), "region": cluster.region, "network": network_spec(cluster, config, infra)}
    cluster_spec.update(shared_fields(cluster, config))
    if cluster.mode == "clusterclass":
        cluster_template = {"template": {"spec": cluster_spec}}
        # No version: the topology sets it from Cluster.spec.topology.version. No
        # clusterName either (the template has none): CAPG names it <namespace>-<object>.
        control_plane_template = {"template": {"spec": _control_plane_spec(cluster, config, infra, version=None)}}
        return ProviderManifests(
            infrastructure_cluster=template_object(CAPG_VERSION, "GCPManagedClusterTemplate", cluster.name, cluster.namespace, cluster_template),
            control_plane_template=template_object(CAPG_VERSION, "GCPManagedControlPlaneTemplate", control_plane_name(cluster), cluster.namespace, control_plane_template),
            worker_machine_pool_templates={pool.name: _node_pool_template(cluster, config, pool) for pool in cluster.workers},
            worker_bootstrap_templates={pool.name: _gke_config_template(cluster, pool) for pool in cluster.workers},
            # GKE scales its node pools itself; each starts at a size CAPG accepts.
            worker_replicas={pool.name: initial_size(config, pool) for pool in cluster.workers},
        )
    # The GKE cluster is named after the fleet's cluster, so the console, gcloud and GitOps agree.
    # In a release channel GKE picks and upgrades the version; one written here would have CAPG push back.
    version = None if config.gke.channel() else cluster.kubernetes_version
    spec = {"clusterName": cluster.name, **_control_plane_spec(cluster, config, infra, version=version)}
    return ProviderManifests(
        infrastructure_cluster=k8s_object(CAPG_VERSION, "GCPManagedCluster", cluster.name, cluster.namespace, spec=cluster_spec),
        control_plane=k8s_object(CAPG_VERSION, "GCPManagedControlPlane", control_plane_name(cluster), cluster.namespace, spec=spec),
        machine_pools=tuple(obj for pool in cluster.workers for obj in _machine_pool(cluster, config, pool)),
    )


def _control_plane_spec(cluster: ClusterSpec, config: GcpConfig, infra: InfraResult, *, version: Optional[str]) -> dict[str, Any]:
    gke = config.gke
    spec: dict[str, Any] = {"project": project(config, infra), "location": cluster.region}
    if version:
        spec["version"] = version
    if gke.autopilot:
        spec["enableAutopilot"] = True
    if gke.channel():
        spec["releaseChannel"] = gke.channel()
    # VPC-native (alias IPs), with pod and Service ranges GKE picks in the node subnet:
    # the core's default Service range (/12) is larger than GKE takes (/16).
    network: dict[str, Any] = {"useIPAliases": True}
    if gke.private is not None:
        private: dict[str, Any] = {"enablePrivateNodes": gke.private.nodes, "enablePrivateEndpoint": gke.private.endpoint}
        if gke.private.control_plane_cidr:
            private["controlPlaneCidrBlock"] = gke.private.control_plane_cidr
        if gke.private.global_access:
            private["controlPlaneGlobalAccess"] = True
        network["privateCluster"] = private
    spec["clusterNetwork"] = network
    authorized = _authorized_networks(gke)
    if authorized is not None:
        spec["master_authorized_networks_config"] = authorized
    if gke.workload_identity:
        spec["clusterSecurity"] = {"workloadIdentityConfig": {"workloadPool": f"{project(config, infra)}.svc.id.goog"}}
    return spec


def _authorized_networks(gke: GkeSettings) -> Optional[dict[str, Any]]:
    """None leaves the control plane open to any address; any setting turns the restriction on."""
    if gke.authorized_networks is None and gke.google_public_cidrs_access is None:
        return None
    config: dict[str, Any] = {}
    if gke.authorized_networks is not None:
        config["cidr_blocks"] = [
            {"cidr_block": _cidr_block(network.cidr), **({"display_name": network.name} if network.name else {})}
            for network in gke.authorized_networks
        ]
    if gke.google_public_cidrs_access is not None:
        config["gcp_public_cidrs_access_enabled"] = gke.google_public_cidrs_access
    return config


def _cidr_block(cidr: str) -> str:
    # CAPG's pattern wants an IPv6 address to end in a digit: '2001:db8::/32' is
    # refused, its exploded form '2001:0db8:0000:...:0000/32' is the same block.
    network = ipaddress.ip_network(cidr)
    return network.exploded if network.version == 6 and str(network.network_address).endswith("::") else cidr


def node_locations(config: GcpConfig, pool: WorkerPool) -> list[str]:
    """The zones of a pool: its failure domain, else ``gcp.zones``; none lets GKE pick."""
    if pool.failure_domain:
        return [pool.failure_domain]
    return list(config.zones)


def zones_spanned(config: GcpConfig, pool: WorkerPool) -> int:
    """How many zones share a pool's nodes equally (CAPG divides ``replicas`` by it)."""
    return len(node_locations(config, pool)) or REGIONAL_POOL_ZONES


def initial_size(config: GcpConfig, pool: WorkerPool) -> int:
    """The MachinePool's replicas: the pool's size, or for an autoscaled pool
    its minimum rounded up to a multiple of its zones (GKE's autoscaler moves it
    between the bounds from there)."""
    if not pool.autoscaled:
        return pool.replicas or 0
    zones = zones_spanned(config, pool)
    return -(-(pool.min_replicas or 0) // zones) * zones


def _node_pool_spec(config: GcpConfig, pool: WorkerPool) -> dict[str, Any]:
    gke = config.gke
    spec: dict[str, Any] = {"nodePoolName": pool.name, "instanceType": pool.machine_size or config.machine_type}
    locations = node_locations(config, pool)
    if locations:
        spec["nodeLocations"] = locations
    if gke.image_type:
        spec["imageType"] = gke.image_type
    spec["diskType"] = config.root_device_type
    if config.root_device_size:
        spec["diskSizeGb"] = config.root_device_size
    # Written out for fixed pools too: CAPG turns autoscaling on (0-1 nodes) when it is left out.
    if pool.autoscaled:
        spec["scaling"] = {"enableAutoscaling": True, "minCount": pool.min_replicas, "maxCount": pool.max_replicas}
    else:
        spec["scaling"] = {"enableAutoscaling": False}
    spec["management"] = {"autoUpgrade": gke.auto_upgrade(), "autoRepair": gke.management.auto_repair}
    if config.service_account is not None:
        spec["nodeSecurity"] = {"serviceAccount": {"email": config.service_account.email, "scopes": list(config.service_account.scopes)}}
    if pool.labels:
        spec["kubernetesLabels"] = dict(sorted(pool.labels.items()))
    if pool.taints:
        spec["kubernetesTaints"] = [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints]
    if config.additional_labels:
        spec["additionalLabels"] = dict(sorted(config.additional_labels.items()))
    return spec


def _machine_pool(cluster: ClusterSpec, config: GcpConfig, pool: WorkerPool) -> list[dict[str, Any]]:
    """A MachinePool and its GCPManagedMachinePool (one GKE node pool).

    Not content-named: the node pool is the object, and CAPG refuses changes to
    its immutable fields (machine type, disk, service account) rather than
    replacing it.
    """
    name = pool_name(cluster, pool)
    node_pool = k8s_object(CAPG_VERSION, "GCPManagedMachinePool", name, cluster.namespace, spec=_node_pool_spec(config, pool))
    # In a channel GKE upgrades the nodes itself; GKE's autoscaler, not CAPI's annotations, sizes the pool.
    version = cluster.kubernetes_version if config.gke.channel() is None else None
    return [node_pool, node_pool_machine_pool(cluster, pool, node_pool, version=version, replicas=initial_size(config, pool))]


def _node_pool_template(cluster: ClusterSpec, config: GcpConfig, pool: WorkerPool) -> dict[str, Any]:
    template = {"template": {"spec": _node_pool_spec(config, pool)}}
    name = versioned_name(pool_name(cluster, pool), template)
    return k8s_object(CAPG_VERSION, "GCPManagedMachinePoolTemplate", name, cluster.namespace, spec=template)


def _gke_config_template(cluster: ClusterSpec, pool: WorkerPool) -> dict[str, Any]:
    template: dict[str, Any] = {"template": {"spec": {}}}
    return template_object(GKE_BOOTSTRAP_VERSION, "GKEConfigTemplate", pool_name(cluster, pool), cluster.namespace, template)
