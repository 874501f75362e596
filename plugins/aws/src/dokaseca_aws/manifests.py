"""CAPA objects for one cluster: pure functions of the cluster's settings."""

from __future__ import annotations

from typing import Any, Optional

from dokaseca.manifests import k8s_object, versioned_name
from dokaseca.models import ClusterSpec, InfraResult, KubeadmSettings, ProviderManifests

from dokaseca_aws.config import AwsConfig

CAPA_VERSION = "infrastructure.cluster.x-k8s.io/v1beta2"
IDENTITY_KINDS = {
    "controller": "AWSClusterControllerIdentity",
    "static": "AWSClusterStaticIdentity",
    "role": "AWSClusterRoleIdentity",
}


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    config: AwsConfig = cluster.provider_config
    cluster_spec = _cluster_spec(cluster, config, infra)
    if cluster.mode == "clusterclass":
        template = {"template": {"spec": cluster_spec}}
        infra_cluster = k8s_object(CAPA_VERSION, "AWSClusterTemplate", versioned_name(cluster.name, template), cluster.namespace, spec=template)
    else:
        infra_cluster = k8s_object(CAPA_VERSION, "AWSCluster", cluster.name, cluster.namespace, spec=cluster_spec)
    control_plane = _machine_template(
        cluster,
        f"{cluster.name}-control-plane",
        config.control_plane_instance_type or cluster.control_plane.machine_size or config.instance_type,
        config.control_plane_instance_profile,
        infra,
    )
    workers = {
        pool.name: _machine_template(
            cluster, f"{cluster.name}-{pool.name}", pool.machine_size or config.instance_type, config.nodes_instance_profile, infra
        )
        for pool in cluster.workers
    }
    return ProviderManifests(
        infrastructure_cluster=infra_cluster,
        control_plane_machine_template=control_plane,
        worker_machine_templates=workers,
        extra=tuple(_identity(config)),
        kubeadm=KubeadmSettings(
            kubelet_args={"cloud-provider": "external"},
            controller_manager_args={"cloud-provider": "external"},
            node_name="{{ ds.meta_data.local_hostname }}",
        ),
    )


def _cluster_spec(cluster: ClusterSpec, config: AwsConfig, infra: InfraResult) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "region": cluster.region,
        "controlPlaneLoadBalancer": {
            "loadBalancerType": "nlb",
            "healthCheckProtocol": "HTTPS",
            "scheme": "internal" if config.api_endpoint == "private" else "internet-facing",
        },
    }
    if config.ssh_key_name:
        spec["sshKeyName"] = config.ssh_key_name
    network: dict[str, Any] = {}
    vpc_id = infra.outputs.get("vpc_id") or config.vpc_id
    subnet_ids = infra.outputs.get("subnet_ids") or config.subnet_ids
    if vpc_id:
        network["vpc"] = {"id": vpc_id}
    if subnet_ids:
        network["subnets"] = [{"id": subnet} for subnet in subnet_ids]
    if network:
        spec["network"] = network
    if config.additional_tags:
        spec["additionalTags"] = dict(sorted(config.additional_tags.items()))
    if config.identity.kind != "controller":
        spec["identityRef"] = {"kind": IDENTITY_KINDS[config.identity.kind], "name": config.identity.name}
    return spec


def _machine_template(
    cluster: ClusterSpec, name: str, instance_type: str, profile: str, infra: InfraResult
) -> dict[str, Any]:
    config: AwsConfig = cluster.provider_config
    machine: dict[str, Any] = {"iamInstanceProfile": profile, "instanceType": instance_type}
    ami_id: Optional[str] = config.ami_id or infra.outputs.get("ami_id")
    if ami_id:
        machine["ami"] = {"id": ami_id}
    if config.ssh_key_name:
        machine["sshKeyName"] = config.ssh_key_name
    if config.root_volume_size:
        machine["rootVolume"] = {"size": config.root_volume_size}
    template = {"template": {"spec": machine}}
    return k8s_object(CAPA_VERSION, "AWSMachineTemplate", versioned_name(name, template), cluster.namespace, spec=template)


def _identity(config: AwsConfig) -> list[dict[str, Any]]:
    """The identity object, when the cluster uses one; its Secret is referenced, never rendered."""
    identity = config.identity
    allowed = {"allowedNamespaces": {}}  # {} = every namespace, as clusterawsadm's examples do
    if identity.kind == "static":
        spec = {"secretRef": identity.secret_name or f"{identity.name}-credentials", **allowed}
    elif identity.kind == "role":
        spec = {"roleARN": identity.role_arn or "", "sourceIdentityRef": {"kind": "AWSClusterControllerIdentity", "name": "default"}, **allowed}
    else:
        return []
    return [k8s_object(CAPA_VERSION, IDENTITY_KINDS[identity.kind], identity.name, spec=spec)]
