"""EKS objects for one cluster (``flavor: eks``): pure functions of its settings.

Classic mode: an ``AWSManagedControlPlane``, the ``AWSManagedCluster`` CAPA
pairs with it, and per worker pool a ``MachinePool`` with an
``AWSManagedMachinePool`` (an EKS managed node group, which scales, drains and
upgrades its nodes itself). ClusterClass mode has no machine pools, so each
pool is a MachineDeployment of EC2 nodes that join the cluster with nodeadm:
an ``AWSMachineTemplate`` and a ``NodeadmConfigTemplate``.

Nodes run Amazon Linux 2023: EKS publishes no Amazon Linux 2 images from
Kubernetes 1.33 on, and AL2023 boots with nodeadm, not the ``bootstrap.sh``
that CAPA's ``EKSConfig`` writes.
"""

from __future__ import annotations

import re
from typing import Any

from dokaseca.capi import control_plane_name, node_pool_machine_pool, pool_name
from dokaseca.manifests import k8s_object, template_object
from dokaseca.models import ClusterSpec, InfraResult, ProviderManifests, WorkerPool

from dokaseca_aws.config import AwsConfig
from dokaseca_aws.manifests import CAPA_VERSION, identity_objects, machine_template, network_spec, shared_fields

CAPA_CONTROL_PLANE_VERSION = "controlplane.cluster.x-k8s.io/v1beta2"
CAPA_BOOTSTRAP_VERSION = "bootstrap.cluster.x-k8s.io/v1beta2"
EKS_LOG_TYPES = ("apiServer", "audit", "authenticator", "controllerManager", "scheduler")
TAINT_EFFECTS = {"NoSchedule": "no-schedule", "PreferNoSchedule": "prefer-no-schedule", "NoExecute": "no-execute"}
# Graviton families carry a "g" after the generation digit (m7g, c7gn, r8gd, t4g, x2gd, is4gen), plus a1.
_ARM64_INSTANCE = re.compile(r"^(a1|[a-z]+\d+[a-z]*g[a-z]*)\.")


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    config: AwsConfig = cluster.provider_config
    control_plane = _control_plane_spec(cluster, config, infra)
    identities = tuple(identity_objects(config))
    if cluster.mode == "clusterclass":
        cluster_template: dict[str, Any] = {"template": {"spec": {}}}
        # No version: the topology sets it from Cluster.spec.topology.version.
        control_plane_template = {"template": {"spec": control_plane}}
        return ProviderManifests(
            infrastructure_cluster=template_object(CAPA_VERSION, "AWSManagedClusterTemplate", cluster.name, cluster.namespace, cluster_template),
            control_plane_template=template_object(CAPA_CONTROL_PLANE_VERSION, "AWSManagedControlPlaneTemplate", control_plane_name(cluster), cluster.namespace, control_plane_template),
            worker_machine_templates={pool.name: _node_template(cluster, config, pool) for pool in cluster.workers},
            worker_bootstrap_templates={pool.name: _nodeadm_template(cluster, pool) for pool in cluster.workers},
            extra=identities,
        )
    return ProviderManifests(
        infrastructure_cluster=k8s_object(CAPA_VERSION, "AWSManagedCluster", cluster.name, cluster.namespace, spec={}),
        control_plane=k8s_object(
            CAPA_CONTROL_PLANE_VERSION,
            "AWSManagedControlPlane",
            control_plane_name(cluster),
            cluster.namespace,
            spec={**control_plane, "version": cluster.kubernetes_version},
        ),
        machine_pools=tuple(obj for pool in cluster.workers for obj in _managed_pool(cluster, config, pool)),
        extra=identities,
    )


def _control_plane_spec(cluster: ClusterSpec, config: AwsConfig, infra: InfraResult) -> dict[str, Any]:
    # The EKS cluster is named after the fleet's cluster, so GitOps and the AWS
    # console agree on it (CAPA would otherwise derive it from namespace and name).
    spec: dict[str, Any] = {"eksClusterName": cluster.name, "region": cluster.region}
    if config.ssh_key_name:
        spec["sshKeyName"] = config.ssh_key_name
    private = config.api_endpoint == "private"
    spec["endpointAccess"] = {"public": not private, "private": private}
    network = network_spec(cluster, config, infra)
    if network:
        spec["network"] = network
    spec.update(shared_fields(config))
    if config.eks.addons:
        spec["addons"] = [_addon(addon) for addon in config.eks.addons]
    if config.eks.logging:
        # CAPA wants every log type said yes or no.
        spec["logging"] = {log: log in config.eks.logging for log in EKS_LOG_TYPES}
    return spec


def _addon(addon: Any) -> dict[str, Any]:
    rendered = {"name": addon.name}
    if addon.version:  # required by CAPA; check_cluster reports a missing one
        rendered["version"] = addon.version
    if addon.configuration:
        rendered["configuration"] = addon.configuration
    return rendered


def _managed_pool(cluster: ClusterSpec, config: AwsConfig, pool: WorkerPool) -> list[dict[str, Any]]:
    """A MachinePool and its AWSManagedMachinePool (one EKS managed node group).

    Not content-named: the node group is the object, and CAPA refuses changes
    to its immutable fields (AMI type, disk size) rather than replacing it.
    """
    name = pool_name(cluster, pool)
    instance_type = pool.machine_size or config.instance_type
    low, high = (pool.min_replicas, pool.max_replicas) if pool.autoscaled else (pool.replicas, pool.replicas)
    spec: dict[str, Any] = {
        "instanceType": instance_type,
        "amiType": "AL2023_ARM_64_STANDARD" if is_arm64(instance_type) else "AL2023_x86_64_STANDARD",
        "scaling": {"minSize": low, "maxSize": max(high or 0, 1)},  # EKS wants a maximum of at least one
    }
    zones = [pool.failure_domain] if pool.failure_domain else list(config.availability_zones)
    if zones:
        spec["availabilityZones"] = zones
    if config.root_volume_size:
        spec["diskSize"] = config.root_volume_size
    if pool.labels:
        spec["labels"] = dict(sorted(pool.labels.items()))
    if pool.taints:
        spec["taints"] = [{"key": t.key, "value": t.value, "effect": TAINT_EFFECTS[t.effect]} for t in pool.taints]
    if config.additional_tags:
        spec["additionalTags"] = dict(sorted(config.additional_tags.items()))
    node_group = k8s_object(CAPA_VERSION, "AWSManagedMachinePool", name, cluster.namespace, spec=spec)

    return [node_group, node_pool_machine_pool(cluster, pool, node_group, version=cluster.kubernetes_version)]


def is_arm64(instance_type: str) -> bool:
    return bool(_ARM64_INSTANCE.match(instance_type))


def _node_template(cluster: ClusterSpec, config: AwsConfig, pool: WorkerPool) -> dict[str, Any]:
    """An EC2 node of a ClusterClass EKS cluster: the EKS-optimized AL2023 image
    for its Kubernetes version unless ``amiId`` names one."""
    return machine_template(
        cluster,
        pool_name(cluster, pool),
        pool.machine_size or config.instance_type,
        config.nodes_instance_profile,
        {"id": config.ami_id} if config.ami_id else {"eksLookupType": "AmazonLinux2023"},
        # nodeadm reads its NodeConfig from the user data itself; CAPA's Secrets
        # Manager indirection would hide it. The data holds no credential.
        cloudInit={"insecureSkipSecretsManager": True},
    )


def _nodeadm_template(cluster: ClusterSpec, pool: WorkerPool) -> dict[str, Any]:
    flags = []
    if pool.labels:
        flags.append("--node-labels=" + ",".join(f"{key}={value}" for key, value in sorted(pool.labels.items())))
    if pool.taints:
        flags.append(
            "--register-with-taints=" + ",".join(f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in pool.taints)
        )
    spec: dict[str, Any] = {"kubelet": {"flags": flags}} if flags else {}
    template = {"template": {"spec": spec}}
    return template_object(CAPA_BOOTSTRAP_VERSION, "NodeadmConfigTemplate", pool_name(cluster, pool), cluster.namespace, template)
