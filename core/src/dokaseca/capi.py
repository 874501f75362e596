"""The provider-neutral Cluster API objects (CAPI v1beta2), wired to what the
provider rendered: Cluster, KubeadmControlPlane, MachineDeployments,
KubeadmConfigTemplates, MachineHealthChecks; in ClusterClass mode a
ClusterClass, a KubeadmControlPlaneTemplate and a Cluster with a topology.

In ClusterClass mode each cluster gets its own ClusterClass named after it:
the provider templates carry cluster-specific values (region, sizes), and
sharing one class across clusters would need variables and patches per
provider. The class is still what CAPI's topology controller reconciles, so
upgrades and pool changes go through ``Cluster.spec.topology`` as users expect.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from dokaseca.manifests import (
    CAPI_VERSION,
    KUBEADM_BOOTSTRAP_VERSION,
    KUBEADM_CONTROL_PLANE_VERSION,
    args_list,
    contract_ref,
    k8s_object,
    template_object,
    template_ref,
)
from dokaseca.models import ClusterSpec, KubeadmSettings, ProviderManifests, WorkerPool

AUTOSCALER_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
AUTOSCALER_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
DEPLOYMENT_NAME_LABEL = "cluster.x-k8s.io/deployment-name"
CONTROL_PLANE_LABEL = "cluster.x-k8s.io/control-plane"

# Same thresholds as clusterctl's quick-start health checks.
NODE_STARTUP_TIMEOUT_SECONDS = 600
UNHEALTHY_NODE_TIMEOUT_SECONDS = 300


def control_plane_name(cluster: ClusterSpec) -> str:
    return f"{cluster.name}-control-plane"


def pool_name(cluster: ClusterSpec, pool: WorkerPool) -> str:
    return f"{cluster.name}-{pool.name}"


def render_core(cluster: ClusterSpec, provided: ProviderManifests) -> list[dict[str, Any]]:
    """The core objects for one cluster (provider objects not included)."""
    if cluster.mode == "clusterclass":
        return _clusterclass(cluster, provided)
    if cluster.managed:
        return [_cluster(cluster, provided, control_plane=provided.control_plane)]
    return _classic_kubeadm(cluster, provided)


# -- classic ---------------------------------------------------------------


def _classic_kubeadm(cluster: ClusterSpec, provided: ProviderManifests) -> list[dict[str, Any]]:
    if provided.control_plane_machine_template is None:
        raise ValueError(f"provider {cluster.provider!r} returned no control-plane machine template for {cluster.name!r}")
    kcp = k8s_object(
        KUBEADM_CONTROL_PLANE_VERSION,
        "KubeadmControlPlane",
        control_plane_name(cluster),
        cluster.namespace,
        spec={
            "replicas": cluster.control_plane.replicas,
            "version": cluster.kubernetes_version,
            "machineTemplate": {"spec": {"infrastructureRef": contract_ref(provided.control_plane_machine_template)}},
            "kubeadmConfigSpec": _control_plane_kubeadm(provided.kubeadm),
        },
    )
    objects: list[dict[str, Any]] = [kcp]
    for pool in cluster.workers:
        machine_template = _worker_template(cluster, provided, pool)
        config = _kubeadm_config_template(cluster, pool, provided.kubeadm)
        objects += [config, _machine_deployment(cluster, pool, machine_template, config)]
    if cluster.health_checks:
        objects.append(_health_check(cluster, control_plane_name(cluster) + "-unhealthy", {CONTROL_PLANE_LABEL: ""}, "100%"))
        for pool in cluster.workers:
            name = pool_name(cluster, pool)
            objects.append(_health_check(cluster, f"{name}-unhealthy", {DEPLOYMENT_NAME_LABEL: name}, "40%"))
    objects.append(_cluster(cluster, provided, control_plane=kcp))
    return objects


def _cluster(cluster: ClusterSpec, provided: ProviderManifests, *, control_plane: Any, topology: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterNetwork": _network(cluster)}
    if topology is not None:
        spec["topology"] = topology
    else:
        if control_plane is not None:
            spec["controlPlaneRef"] = contract_ref(control_plane)
        spec["infrastructureRef"] = contract_ref(provided.infrastructure_cluster)
    return k8s_object(CAPI_VERSION, "Cluster", cluster.name, cluster.namespace, spec=spec)


def _network(cluster: ClusterSpec) -> dict[str, Any]:
    return {
        "pods": {"cidrBlocks": list(cluster.network.pods)},
        "services": {"cidrBlocks": list(cluster.network.services)},
        "serviceDomain": cluster.network.service_domain,
    }


def _node_registration(settings: KubeadmSettings, node_labels: dict[str, str] | None = None, taints: Any = ()) -> dict[str, Any]:
    registration: dict[str, Any] = {}
    kubelet = dict(settings.kubelet_args)
    if node_labels:
        pool_labels = ",".join(f"{k}={v}" for k, v in sorted(node_labels.items()))
        # The provider's labels (Metal3's host uuid) must survive the pool's.
        kubelet["node-labels"] = ",".join(filter(None, (kubelet.get("node-labels"), pool_labels)))
    if kubelet:
        registration["kubeletExtraArgs"] = args_list(kubelet)
    if settings.node_name:
        registration["name"] = settings.node_name
    if taints:
        registration["taints"] = [{"key": t.key, "value": t.value, "effect": t.effect} if t.value else {"key": t.key, "effect": t.effect} for t in taints]
    return registration


def _control_plane_kubeadm(settings: KubeadmSettings) -> dict[str, Any]:
    cluster_configuration: dict[str, Any] = {}
    if settings.api_server_args:
        cluster_configuration["apiServer"] = {"extraArgs": args_list(settings.api_server_args)}
    if settings.controller_manager_args:
        cluster_configuration["controllerManager"] = {"extraArgs": args_list(settings.controller_manager_args)}
    spec: dict[str, Any] = {}
    if cluster_configuration:
        spec["clusterConfiguration"] = cluster_configuration
    # Two dicts, not one: a hook editing the join registration must not edit init's.
    spec["initConfiguration"] = {"nodeRegistration": _node_registration(settings)}
    spec["joinConfiguration"] = {"nodeRegistration": _node_registration(settings)}
    if settings.control_plane_files:
        spec["files"] = [dict(f) for f in settings.control_plane_files]
    pre = [*settings.pre_kubeadm_commands, *settings.control_plane_pre_kubeadm_commands]
    if pre:
        spec["preKubeadmCommands"] = pre
    if settings.control_plane_post_kubeadm_commands:
        spec["postKubeadmCommands"] = list(settings.control_plane_post_kubeadm_commands)
    if settings.users:
        spec["users"] = [dict(u) for u in settings.users]
    return spec


def _kubeadm_config_template(cluster: ClusterSpec, pool: WorkerPool, settings: KubeadmSettings) -> dict[str, Any]:
    spec: dict[str, Any] = {"joinConfiguration": {"nodeRegistration": _node_registration(settings, dict(pool.labels), pool.taints)}}
    if settings.pre_kubeadm_commands:
        spec["preKubeadmCommands"] = list(settings.pre_kubeadm_commands)
    if settings.users:
        spec["users"] = [dict(u) for u in settings.users]
    template = {"template": {"spec": spec}}
    return template_object(KUBEADM_BOOTSTRAP_VERSION, "KubeadmConfigTemplate", pool_name(cluster, pool), cluster.namespace, template)


def _worker_template(cluster: ClusterSpec, provided: ProviderManifests, pool: WorkerPool) -> dict[str, Any]:
    try:
        return dict(provided.worker_machine_templates[pool.name])
    except KeyError:
        raise ValueError(f"provider {cluster.provider!r} returned no machine template for worker pool {pool.name!r}") from None


def _autoscaler_annotations(pool: WorkerPool) -> dict[str, str]:
    if not pool.autoscaled:
        return {}
    return {AUTOSCALER_MIN: str(pool.min_replicas), AUTOSCALER_MAX: str(pool.max_replicas)}


def node_pool_machine_pool(
    cluster: ClusterSpec, pool: WorkerPool, node_pool: Mapping[str, Any], *, version: Optional[str], replicas: Optional[int] = None
) -> dict[str, Any]:
    """The MachinePool of a node pool a managed flavor's cloud runs (an EKS node
    group, an AKS agent pool, a GKE node pool), for ``ProviderManifests.machine_pools``.

    The cloud bootstraps its nodes itself (an empty ``dataSecretName``).
    ``version``: None when the cloud upgrades the nodes (a release channel).
    ``replicas``: the size of a pool the cloud scales itself; without it a
    fixed pool has its replicas and an autoscaled one the cluster-autoscaler
    annotations CAPI sizes a new pool from.
    """
    template: dict[str, Any] = {"clusterName": cluster.name}
    if version is not None:
        template["version"] = version
    template["bootstrap"] = {"dataSecretName": ""}
    template["infrastructureRef"] = contract_ref(node_pool)
    spec: dict[str, Any] = {"clusterName": cluster.name}
    annotations = None
    if replicas is not None:
        spec["replicas"] = replicas
    elif pool.autoscaled:
        annotations = _autoscaler_annotations(pool)
    else:
        spec["replicas"] = pool.replicas
    spec["template"] = {"spec": template}
    return k8s_object(CAPI_VERSION, "MachinePool", pool_name(cluster, pool), cluster.namespace, annotations=annotations, spec=spec)


def _machine_deployment(cluster: ClusterSpec, pool: WorkerPool, machine_template: Any, config: Any) -> dict[str, Any]:
    name = pool_name(cluster, pool)
    selector = {"cluster.x-k8s.io/cluster-name": cluster.name, DEPLOYMENT_NAME_LABEL: name}
    spec: dict[str, Any] = {"clusterName": cluster.name}
    if not pool.autoscaled:
        spec["replicas"] = pool.replicas
    spec["selector"] = {"matchLabels": selector}
    spec["template"] = {
        "metadata": {"labels": dict(selector)},
        "spec": {
            "clusterName": cluster.name,
            "version": cluster.kubernetes_version,
            "bootstrap": {"configRef": contract_ref(config)},
            "infrastructureRef": contract_ref(machine_template),
        },
    }
    if pool.failure_domain:
        spec["template"]["spec"]["failureDomain"] = pool.failure_domain
    return k8s_object(
        CAPI_VERSION, "MachineDeployment", name, cluster.namespace, annotations=_autoscaler_annotations(pool), spec=spec
    )


def _health_checks() -> dict[str, Any]:
    return {
        "nodeStartupTimeoutSeconds": NODE_STARTUP_TIMEOUT_SECONDS,
        "unhealthyNodeConditions": [
            {"type": "Ready", "status": status, "timeoutSeconds": UNHEALTHY_NODE_TIMEOUT_SECONDS} for status in ("Unknown", "False")
        ],
    }


def _health_check(cluster: ClusterSpec, name: str, match: dict[str, str], max_unhealthy: str) -> dict[str, Any]:
    return k8s_object(
        CAPI_VERSION,
        "MachineHealthCheck",
        name,
        cluster.namespace,
        spec={
            "clusterName": cluster.name,
            "selector": {"matchLabels": {"cluster.x-k8s.io/cluster-name": cluster.name, **match}},
            "checks": _health_checks(),
            "remediation": {"triggerIf": {"unhealthyLessThanOrEqualTo": max_unhealthy}},
        },
    )


# -- ClusterClass ------------------------------------------------------------


def _clusterclass(cluster: ClusterSpec, provided: ProviderManifests) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    if cluster.managed:
        if provided.control_plane_template is None:
            raise ValueError(f"provider {cluster.provider!r} returned no control-plane template for {cluster.name!r} (flavor {cluster.flavor!r})")
        control_plane: dict[str, Any] = {"templateRef": template_ref(provided.control_plane_template)}
    else:
        if provided.control_plane_machine_template is None:
            raise ValueError(f"provider {cluster.provider!r} returned no control-plane machine template for {cluster.name!r}")
        kcp_spec = {"template": {"spec": {"kubeadmConfigSpec": _control_plane_kubeadm(provided.kubeadm)}}}
        kcp_template = template_object(KUBEADM_CONTROL_PLANE_VERSION, "KubeadmControlPlaneTemplate", control_plane_name(cluster), cluster.namespace, kcp_spec)
        objects.append(kcp_template)
        control_plane = {
            "templateRef": template_ref(kcp_template),
            "machineInfrastructure": {"templateRef": template_ref(provided.control_plane_machine_template)},
        }
        if cluster.health_checks:
            control_plane["healthCheck"] = {"checks": _health_checks(), "remediation": {"triggerIf": {"unhealthyLessThanOrEqualTo": "100%"}}}
    if provided.control_plane_naming:
        control_plane["naming"] = {"template": provided.control_plane_naming}
    classes: dict[str, list[dict[str, Any]]] = {"machineDeployments": [], "machinePools": []}
    topology_workers: dict[str, list[dict[str, Any]]] = {"machineDeployments": [], "machinePools": []}
    for pool in cluster.workers:
        if pool.name in provided.worker_bootstrap_templates:
            config = dict(provided.worker_bootstrap_templates[pool.name])  # the provider renders it with its own objects
        else:
            config = _kubeadm_config_template(cluster, pool, provided.kubeadm)
            objects.append(config)
        machine_pool = provided.worker_machine_pool_templates.get(pool.name)
        infrastructure = machine_pool if machine_pool is not None else _worker_template(cluster, provided, pool)
        worker_class: dict[str, Any] = {
            "class": pool.name,
            "bootstrap": {"templateRef": template_ref(config)},
            "infrastructure": {"templateRef": template_ref(infrastructure)},
        }
        topology_pool: dict[str, Any] = {"class": pool.name, "name": pool.name}
        # A node pool is repaired by its cloud and its zones are in the provider's
        # template: its MachinePool class has no health check or failure domain.
        if machine_pool is None:
            if cluster.health_checks:
                worker_class["healthCheck"] = {"checks": _health_checks(), "remediation": {"triggerIf": {"unhealthyLessThanOrEqualTo": "40%"}}}
            if pool.failure_domain:
                topology_pool["failureDomain"] = pool.failure_domain
        annotations = _autoscaler_annotations(pool)
        if pool.name in provided.worker_replicas:
            topology_pool["replicas"] = provided.worker_replicas[pool.name]
        elif annotations:
            topology_pool["metadata"] = {"annotations": annotations}
        else:
            topology_pool["replicas"] = pool.replicas
        kind = "machinePools" if machine_pool is not None else "machineDeployments"
        classes[kind].append(worker_class)
        topology_workers[kind].append(topology_pool)
    spec: dict[str, Any] = {
        "infrastructure": {"templateRef": template_ref(provided.infrastructure_cluster)},
        "controlPlane": control_plane,
    }
    if any(classes.values()):
        spec["workers"] = {kind: entries for kind, entries in classes.items() if entries}
    cluster_class = k8s_object(CAPI_VERSION, "ClusterClass", cluster.name, cluster.namespace, spec=spec)
    topology: dict[str, Any] = {
        "classRef": {"name": cluster_class["metadata"]["name"]},
        "version": cluster.kubernetes_version,
    }
    if not cluster.managed:  # a managed control plane has no machines to count
        topology["controlPlane"] = {"replicas": cluster.control_plane.replicas}
    if any(topology_workers.values()):
        topology["workers"] = {kind: entries for kind, entries in topology_workers.items() if entries}
    objects.append(cluster_class)
    objects.append(_cluster(cluster, provided, control_plane=None, topology=topology))
    return objects
