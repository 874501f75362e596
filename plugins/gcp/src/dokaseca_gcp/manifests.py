"""CAPG objects for one cluster: pure functions of the cluster's settings.

:func:`render` answers ``render_provider_manifests``. The self-managed
(``kubeadm``) flavor is here, with what both flavors share (project, network,
labels, credentials); the ``gke`` flavor is in :mod:`dokaseca_gcp.gke`.

What ``prepare`` found (``infra.outputs``: ``project_id``, ``network``,
``subnets``, ``image``) wins over the ``gcp:`` block; rendered offline, the
block's values are used as they are.
"""

from __future__ import annotations

from typing import Any, Optional

from dokaseca.manifests import k8s_object, template_object
from dokaseca.models import ClusterSpec, InfraResult, KubeadmSettings, ProviderManifests

from dokaseca_gcp.config import GcpConfig, GcpServiceAccount

CAPG_VERSION = "infrastructure.cluster.x-k8s.io/v1beta1"

# The node name is the instance name (the hostname is NAME.ZONE.c.PROJECT.internal),
# which the cloud controller manager uses to find the VM; same as CAPG's templates.
NODE_NAME = '{{ ds.meta_data.local_hostname.split(".")[0] }}'

# CAPG's templates still say cloud-provider: gce, and Kubernetes removed the
# in-tree GCE provider in v1.31; the GCP cloud-controller-manager
# (kubernetes/cloud-provider-gcp) runs as an addon instead. allocate-node-cidrs
# stays off as in CAPG's templates: the CNI assigns pod addresses.
KUBEADM = KubeadmSettings(
    kubelet_args={"cloud-provider": "external"},
    controller_manager_args={"cloud-provider": "external", "allocate-node-cidrs": "false"},
    node_name=NODE_NAME,
)


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    """The CAPG objects of a cluster whose settings passed :func:`dokaseca_gcp.checks.problems`
    (the ``check_cluster`` hook); the only values not checked there come from ``infra.outputs``
    (network name, image), which CAPG takes as they are."""
    if cluster.flavor == "gke":
        from dokaseca_gcp import gke  # imports this module's helpers

        return gke.render(cluster, infra)
    config: GcpConfig = cluster.provider_config
    cluster_spec = _cluster_spec(cluster, config, infra)
    if cluster.mode == "clusterclass":
        template = {"template": {"spec": cluster_spec}}
        infra_cluster = template_object(CAPG_VERSION, "GCPClusterTemplate", cluster.name, cluster.namespace, template)
    else:
        infra_cluster = k8s_object(CAPG_VERSION, "GCPCluster", cluster.name, cluster.namespace, spec=cluster_spec)
    control_plane = _machine_template(
        cluster,
        config,
        infra,
        name=f"{cluster.name}-control-plane",
        machine_type=cluster.control_plane.machine_size or config.machine_type,
        service_account=config.control_plane_service_account or config.service_account,
    )
    workers = {
        pool.name: _machine_template(
            cluster,
            config,
            infra,
            name=f"{cluster.name}-{pool.name}",
            machine_type=pool.machine_size or config.machine_type,
            service_account=config.service_account,
        )
        for pool in cluster.workers
    }
    return ProviderManifests(
        infrastructure_cluster=infra_cluster,
        control_plane_machine_template=control_plane,
        worker_machine_templates=workers,
        # CAPG has no identity kinds: credentialsRef in the GCPCluster names the Secret.
        extra=(),
        kubeadm=KUBEADM,
    )


def _cluster_spec(cluster: ClusterSpec, config: GcpConfig, infra: InfraResult) -> dict[str, Any]:
    spec: dict[str, Any] = {"project": project(config, infra), "region": cluster.region, "network": network_spec(cluster, config, infra)}
    if config.zones:
        spec["failureDomains"] = list(config.zones)
    load_balancer = _load_balancer(config)
    if load_balancer:
        spec["loadBalancer"] = load_balancer
    spec.update(shared_fields(cluster, config))
    return spec


def project(config: GcpConfig, infra: InfraResult) -> str:
    return infra.outputs.get("project_id") or config.project


def network_spec(cluster: ClusterSpec, config: GcpConfig, infra: InfraResult) -> dict[str, Any]:
    """The ``network`` of a GCPCluster or GCPManagedCluster: the one ``prepare``
    made or found, else the block's (CAPG creates it when it is missing)."""
    outputs = infra.outputs
    settings = config.network
    network: dict[str, Any] = {"name": outputs.get("network") or settings.name_for(cluster.fleet, cluster.environment)}
    if settings.auto_create_subnetworks is not None:
        network["autoCreateSubnetworks"] = settings.auto_create_subnetworks
    if outputs.get("subnets"):
        network["subnets"] = [{"name": s["name"], "cidrBlock": s["cidr"], "region": s["region"]} for s in outputs["subnets"]]
    elif settings.subnets:
        network["subnets"] = [
            {"name": subnet.name, "cidrBlock": subnet.cidr_block, "region": subnet.region or cluster.region} for subnet in settings.subnets
        ]
    if settings.host_project:
        network["hostProject"] = settings.host_project
    return network


def shared_fields(cluster: ClusterSpec, config: GcpConfig) -> dict[str, Any]:
    """Labels and the credentials reference, the same on a GCPCluster and a GCPManagedCluster."""
    fields: dict[str, Any] = {}
    if config.additional_labels:
        fields["additionalLabels"] = dict(sorted(config.additional_labels.items()))
    if config.credentials_ref is not None:
        fields["credentialsRef"] = {
            "name": config.credentials_ref.name,
            "namespace": config.credentials_ref.namespace or cluster.namespace,
        }
    return fields


def _load_balancer(config: GcpConfig) -> dict[str, Any]:
    """Empty for CAPG's default (a global external proxy load balancer), as its templates do."""
    settings = config.load_balancer
    if settings.type == "External":
        return {}
    internal: dict[str, Any] = {}
    if settings.internal_access:
        internal["internalAccess"] = settings.internal_access
    if settings.subnet:
        internal["subnet"] = settings.subnet
    if settings.ip_address:
        internal["ipAddress"] = settings.ip_address
    spec: dict[str, Any] = {"loadBalancerType": settings.type}
    if internal:
        spec["internalLoadBalancer"] = internal
    return spec


def _machine_template(
    cluster: ClusterSpec,
    config: GcpConfig,
    infra: InfraResult,
    *,
    name: str,
    machine_type: str,
    service_account: Optional[GcpServiceAccount],
) -> dict[str, Any]:
    machine: dict[str, Any] = {"instanceType": machine_type}
    # None: CAPG boots the image family capi-ubuntu-1804-k8s-vMAJOR-MINOR of the cluster's project.
    image: Optional[str] = infra.outputs.get("image") or config.image
    if image:
        machine["image"] = image
    machine["rootDeviceType"] = config.root_device_type
    if config.root_device_size:
        machine["rootDeviceSize"] = config.root_device_size
    if service_account is not None:
        machine["serviceAccounts"] = {"email": service_account.email, "scopes": list(service_account.scopes)}
    # Immutable once created (CAPG's webhook rejects updates): a changed spec is a new template.
    template = {"template": {"spec": machine}}
    return template_object(CAPG_VERSION, "GCPMachineTemplate", name, cluster.namespace, template)
