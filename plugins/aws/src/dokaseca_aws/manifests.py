"""CAPA objects for one cluster: pure functions of the cluster's settings.

:func:`render` answers ``render_provider_manifests``. The self-managed
(``kubeadm``) flavor is here, with what both flavors share (network, identity,
tags); the ``eks`` flavor is in :mod:`dokaseca_aws.eks`.

What ``prepare`` found (``infra.outputs``: ``ami_id``, ``vpc_id``,
``subnet_ids``, ``subnets``) fills in what the ``aws:`` block leaves open;
rendered offline, CAPA's controller looks the image and network up itself.
Machine templates and ClusterClass templates are immutable in CAPA, so each is
named after its content (:func:`dokaseca.manifests.versioned_name`).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping, Optional

from dokaseca.manifests import k8s_object, template_object
from dokaseca.models import ClusterSpec, InfraResult, KubeadmSettings, ProviderManifests

from dokaseca_aws.config import AmiLookup, AwsConfig

CAPA_VERSION = "infrastructure.cluster.x-k8s.io/v1beta2"
IDENTITY_KINDS = {
    "controller": "AWSClusterControllerIdentity",
    "static": "AWSClusterStaticIdentity",
    "role": "AWSClusterRoleIdentity",
}
# The block CAPA gives a VPC it makes; the subnets we list for it are cut from it.
CAPA_VPC_CIDR = "10.0.0.0/16"
# Our AMI name format fills {base_os} and {kubernetes_version}; CAPA's is a Go
# template with the same two values (the version without its leading "v").
_CAPA_NAME_FORMAT_FIELDS = {"{base_os}": "{{.BaseOS}}", "{kubernetes_version}": "{{.K8sVersion}}"}


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    if cluster.flavor == "eks":
        from dokaseca_aws import eks  # imports this module's helpers

        return eks.render(cluster, infra)
    config: AwsConfig = cluster.provider_config
    cluster_spec = _cluster_spec(cluster, config, infra)
    if cluster.mode == "clusterclass":
        template = {"template": {"spec": cluster_spec}}
        infra_cluster = template_object(CAPA_VERSION, "AWSClusterTemplate", cluster.name, cluster.namespace, template)
    else:
        infra_cluster = k8s_object(CAPA_VERSION, "AWSCluster", cluster.name, cluster.namespace, spec=cluster_spec)
    ami_id = config.ami_id or infra.outputs.get("ami_id")
    ami = {"id": ami_id} if ami_id else None
    control_plane = machine_template(
        cluster,
        f"{cluster.name}-control-plane",
        config.control_plane_instance_type or cluster.control_plane.machine_size or config.instance_type,
        config.control_plane_instance_profile,
        ami,
    )
    workers = {
        pool.name: machine_template(
            cluster, f"{cluster.name}-{pool.name}", pool.machine_size or config.instance_type, config.nodes_instance_profile, ami
        )
        for pool in cluster.workers
    }
    return ProviderManifests(
        infrastructure_cluster=infra_cluster,
        control_plane_machine_template=control_plane,
        worker_machine_templates=workers,
        extra=tuple(identity_objects(config)),
        kubeadm=KubeadmSettings(
            # The in-tree AWS cloud provider is gone (Kubernetes 1.27): the AWS
            # cloud controller manager runs as an addon.
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
    network = network_spec(cluster, config, infra)
    if network:
        spec["network"] = network
    if not (config.ami_id or infra.outputs.get("ami_id")):
        spec.update(image_lookup(config.ami_lookup))
    spec.update(shared_fields(config))
    return spec


def machine_template(
    cluster: ClusterSpec, name: str, instance_type: str, profile: str, ami: Optional[Mapping[str, Any]], **fields: Any
) -> dict[str, Any]:
    """An AWSMachineTemplate named after its content; ``fields`` are further machine fields."""
    config: AwsConfig = cluster.provider_config
    machine: dict[str, Any] = {"iamInstanceProfile": profile, "instanceType": instance_type}
    if ami:
        machine["ami"] = dict(ami)
    if config.ssh_key_name:
        machine["sshKeyName"] = config.ssh_key_name
    if config.root_volume_size:
        machine["rootVolume"] = {"size": config.root_volume_size}
    machine.update(fields)
    template = {"template": {"spec": machine}}
    return template_object(CAPA_VERSION, "AWSMachineTemplate", name, cluster.namespace, template)


def image_lookup(lookup: AmiLookup) -> dict[str, str]:
    """CAPA's own AMI lookup fields, for what differs from its defaults (which
    are ours), so that CAPA finds the image ``prepare`` would have found."""
    default = AmiLookup()
    fields = {}
    if lookup.owner != default.owner:
        fields["imageLookupOrg"] = lookup.owner
    if lookup.base_os != default.base_os:
        fields["imageLookupBaseOS"] = lookup.base_os
    if lookup.name_format != default.name_format:
        fields["imageLookupFormat"] = capa_name_format(lookup.name_format)
    return fields


def capa_name_format(name_format: str) -> str:
    for ours, capa in _CAPA_NAME_FORMAT_FIELDS.items():
        name_format = name_format.replace(ours, capa)
    return name_format


def network_spec(cluster: ClusterSpec, config: AwsConfig, infra: InfraResult) -> dict[str, Any]:
    """The ``network`` of an AWSCluster or AWSManagedControlPlane.

    A VPC and subnets from ``prepare`` or the ``aws:`` block are used as they
    are (only the listed zones' subnets, when ``prepare`` says where each is).
    Otherwise CAPA makes the VPC: with ``availabilityZones``, one private and
    one public subnet in each listed zone; without, CAPA picks three zones.
    """
    outputs = infra.outputs
    zones = config.availability_zones
    vpc_id = outputs.get("vpc_id") or config.vpc_id
    subnets: list[dict[str, Any]] = []
    if outputs.get("subnets"):
        subnets = [
            {"id": s["id"], "availabilityZone": s["availability_zone"], "isPublic": bool(s["public"])}
            for s in outputs["subnets"]
            if not zones or s["availability_zone"] in zones
        ]
    elif outputs.get("subnet_ids") or config.subnet_ids:
        subnets = [{"id": subnet} for subnet in outputs.get("subnet_ids") or config.subnet_ids]
    elif zones and not vpc_id and not config.network.create:
        return {"vpc": {"cidrBlock": CAPA_VPC_CIDR}, "subnets": managed_subnets(cluster.name, zones)}
    network: dict[str, Any] = {}
    if vpc_id:
        network["vpc"] = {"id": vpc_id}
    if subnets:
        network["subnets"] = subnets
    return network


def managed_subnets(cluster_name: str, zones: tuple[str, ...]) -> list[dict[str, Any]]:
    """Subnets for CAPA to make in its VPC: the VPC is cut into one block per
    zone plus one, and that extra block into the zones' public subnets (load
    balancers and NAT need few addresses; nodes and pods need many).

    Ids that do not start with ``subnet-`` name subnets CAPA is to make.
    """
    private = _split(ipaddress.ip_network(CAPA_VPC_CIDR), len(zones) + 1)
    public = _split(private.pop(0), len(zones))
    subnets = []
    for zone, private_block, public_block in zip(zones, private, public, strict=True):
        subnets.append(
            {"id": f"{cluster_name}-subnet-private-{zone}", "availabilityZone": zone, "cidrBlock": str(private_block), "isPublic": False}
        )
        subnets.append(
            {"id": f"{cluster_name}-subnet-public-{zone}", "availabilityZone": zone, "cidrBlock": str(public_block), "isPublic": True}
        )
    return subnets


def _split(block: Any, count: int) -> list[Any]:
    """The first ``count`` blocks of the smallest power-of-two split of ``block``."""
    return list(block.subnets(prefixlen_diff=(count - 1).bit_length()))[:count]


def shared_fields(config: AwsConfig) -> dict[str, Any]:
    """Fields an AWSCluster and an AWSManagedControlPlane both take."""
    fields: dict[str, Any] = {}
    if config.additional_tags:
        fields["additionalTags"] = dict(sorted(config.additional_tags.items()))
    if config.identity.kind != "controller":  # no reference: CAPA uses its own credentials
        fields["identityRef"] = {"kind": IDENTITY_KINDS[config.identity.kind], "name": config.identity.name}
    return fields


def identity_objects(config: AwsConfig) -> list[dict[str, Any]]:
    """The identity object, when the cluster uses one; its Secret is referenced, never rendered.

    Identities are cluster-scoped and shared by every cluster naming them, so
    they allow every namespace (``{}``): a per-cluster list would be rewritten
    by each cluster's apply.
    """
    identity = config.identity
    allowed = {"allowedNamespaces": {}}
    if identity.kind == "static":
        spec = {"secretRef": identity.secret_name or f"{identity.name}-credentials", **allowed}
    elif identity.kind == "role":
        spec = {
            "roleARN": identity.role_arn or "",
            "sourceIdentityRef": {"kind": "AWSClusterControllerIdentity", "name": "default"},
            **allowed,
        }
    else:
        return []
    return [k8s_object(CAPA_VERSION, IDENTITY_KINDS[identity.kind], identity.name, spec=spec)]
