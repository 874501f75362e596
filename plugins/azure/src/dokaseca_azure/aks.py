"""AKS objects for one cluster (``flavor: aks``): pure functions of its settings.

Classic mode: an ``AzureManagedControlPlane`` (the AKS cluster, named after
the fleet's cluster), the ``AzureManagedCluster`` CAPZ pairs with it, and per
worker pool a ``MachinePool`` with an ``AzureManagedMachinePool`` (one AKS
agent pool, which AKS scales, drains and upgrades itself). ClusterClass mode
renders the same as templates, and the worker classes are MachinePool
classes: AKS nodes can only come from agent pools. AKS bootstraps its nodes
itself, so a class's bootstrap template is a KubeadmConfigTemplate holding
nothing AKS uses, as in CAPZ's own AKS ClusterClass.

These are CAPZ's AzureManaged* kinds; its ASO-based AzureASOManaged* flavor is
not rendered.
"""

from __future__ import annotations

from typing import Any, Mapping

from dokaseca.capi import control_plane_name, node_pool_machine_pool, pool_name
from dokaseca.manifests import KUBEADM_BOOTSTRAP_VERSION, k8s_object, template_object
from dokaseca.models import ClusterSpec, InfraResult, ProviderManifests, WorkerPool

from dokaseca_azure import names
from dokaseca_azure.config import DEFAULT_NODE_SUBNET, AzureConfig
from dokaseca_azure.manifests import (
    CAPZ_VERSION,
    identity_object,
    identity_ref,
    resource_group,
    ssh_public_key_b64,
    subscription_id,
    vnet_placement,
)

# The AKS cluster takes the Cluster's name in ClusterClass mode too (CAPI would add a random suffix).
CONTROL_PLANE_NAMING = "{{ .cluster.name }}"


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    config: AzureConfig = cluster.provider_config
    control_plane = control_plane_spec(cluster, config, infra)
    system = system_pools(cluster)
    identities = (identity_object(cluster, config),)
    if cluster.mode == "clusterclass":
        # The template needs a version; the topology's replaces it.
        control_plane_template = {"template": {"spec": {**control_plane, "version": cluster.kubernetes_version}}}
        cluster_template: dict[str, Any] = {"template": {"spec": {}}}
        return ProviderManifests(
            infrastructure_cluster=template_object(
                CAPZ_VERSION, "AzureManagedClusterTemplate", cluster.name, cluster.namespace, cluster_template
            ),
            control_plane_template=template_object(
                CAPZ_VERSION, "AzureManagedControlPlaneTemplate", control_plane_name(cluster), cluster.namespace, control_plane_template
            ),
            worker_machine_pool_templates={
                pool.name: _pool_template(cluster, config, pool, pool.name in system) for pool in cluster.workers
            },
            worker_bootstrap_templates={pool.name: _bootstrap_template(cluster, pool) for pool in cluster.workers},
            control_plane_naming=CONTROL_PLANE_NAMING,
            extra=identities,
        )
    spec = {**control_plane, "version": cluster.kubernetes_version}
    if config.ssh_public_key:  # the template kind has no such field
        spec["sshPublicKey"] = ssh_public_key_b64(config.ssh_public_key)
    return ProviderManifests(
        infrastructure_cluster=k8s_object(CAPZ_VERSION, "AzureManagedCluster", cluster.name, cluster.namespace, spec={}),
        control_plane=k8s_object(CAPZ_VERSION, "AzureManagedControlPlane", cluster.name, cluster.namespace, spec=spec),
        machine_pools=tuple(obj for pool in cluster.workers for obj in _managed_pool(cluster, config, pool, pool.name in system)),
        extra=identities,
    )


def system_pools(cluster: ClusterSpec) -> set[str]:
    """The pools AKS runs its own pods on: those ``aks.systemPools`` names, else the first."""
    named = cluster.provider_config.aks.system_pools
    if named:
        return set(named)
    return {cluster.workers[0].name} if cluster.workers else set()


def control_plane_spec(cluster: ClusterSpec, config: AzureConfig, infra: InfraResult) -> dict[str, Any]:
    """The AzureManagedControlPlane spec, without what its template kind cannot hold (version, SSH key)."""
    aks = config.aks
    spec: dict[str, Any] = {
        "location": cluster.region,
        "subscriptionID": subscription_id(cluster, config, infra),
        "resourceGroupName": resource_group(cluster, infra),
        "identityRef": identity_ref(cluster, config),
        "virtualNetwork": virtual_network(cluster, config, infra),
        "networkPlugin": aks.network_plugin,
    }
    if aks.network_plugin == "azure" and aks.network_plugin_mode:
        spec["networkPluginMode"] = aks.network_plugin_mode
    if aks.network_policy:
        spec["networkPolicy"] = aks.network_policy
    if aks.network_dataplane:
        spec["networkDataplane"] = aks.network_dataplane
    if aks.outbound_type:
        spec["outboundType"] = aks.outbound_type
    spec["sku"] = {"tier": aks.sku_tier}
    access: dict[str, Any] = {}
    if config.api_endpoint == "private":
        access["enablePrivateCluster"] = True
    if aks.authorized_ip_ranges:
        access["authorizedIPRanges"] = list(aks.authorized_ip_ranges)
    if access:
        spec["apiServerAccessProfile"] = access
    # Once on, AKS cannot turn the OIDC issuer off; workload identity needs it.
    spec["oidcIssuerProfile"] = {"enabled": True}
    if aks.workload_identity:
        spec["securityProfile"] = {"workloadIdentity": {"enabled": True}}
    if aks.identity_id:
        spec["identity"] = {"type": "UserAssigned", "userAssignedIdentityResourceID": aks.identity_id}
    if aks.kubelet_identity_id:
        spec["kubeletUserAssignedIdentity"] = aks.kubelet_identity_id
    if config.additional_tags:
        spec["additionalTags"] = dict(sorted(config.additional_tags.items()))
    return spec


def virtual_network(cluster: ClusterSpec, config: AzureConfig, infra: InfraResult) -> dict[str, Any]:
    """The vnet and node subnet: what ``prepare`` made or found, else the ``azure:`` block's
    (CAPZ creates them when they do not exist)."""
    vnet_group, vnet_name = vnet_placement(cluster, infra)
    network: dict[str, Any] = {"name": vnet_name, "cidrBlock": names.vnet_cidrs(cluster)[0]}
    if vnet_group != resource_group(cluster, infra):  # else CAPZ's default: the cluster's group
        network["resourceGroup"] = vnet_group
    network["subnet"] = node_subnet(config, infra)
    return network


def node_subnet(config: AzureConfig, infra: InfraResult) -> dict[str, str]:
    """The agent pools' subnet. Of the subnets ``prepare`` lists, the one with role
    ``node``, else the one named like ``subnets.node.name``, else the only one."""
    wanted = config.subnets.node.name or DEFAULT_NODE_SUBNET
    default_cidr = config.subnets.effective_cidrs("node")[0]
    prepared: list[Mapping[str, Any]] = list(infra.outputs.get("subnets") or ())
    found = next((s for s in prepared if s.get("role") == "node"), None) or next((s for s in prepared if s.get("name") == wanted), None)
    if found is None and len(prepared) == 1:
        found = prepared[0]
    if found is None:
        return {"name": wanted, "cidrBlock": default_cidr}
    return {"name": found["name"], "cidrBlock": found.get("cidr") or default_cidr}


def _pool_spec(config: AzureConfig, pool: WorkerPool, system: bool) -> dict[str, Any]:
    aks = config.aks
    spec: dict[str, Any] = {
        "mode": "System" if system else "User",
        "name": pool.name,  # the agent pool's name in AKS; checks.py reports names AKS refuses
        "sku": pool.machine_size or config.vm_size,
        "osDiskSizeGB": config.os_disk.size_gb,
    }
    if aks.os_disk_type:
        spec["osDiskType"] = aks.os_disk_type
    zones = [pool.failure_domain] if pool.failure_domain else list(config.availability_zones)
    if zones:
        spec["availabilityZones"] = zones
    if aks.max_pods:
        spec["maxPods"] = aks.max_pods
    if pool.autoscaled:  # AKS's own autoscaler keeps the pool between these
        spec["scaling"] = {"minSize": pool.min_replicas, "maxSize": pool.max_replicas}
    if pool.labels:
        spec["nodeLabels"] = dict(sorted(pool.labels.items()))
    if pool.taints:
        spec["taints"] = [{"effect": t.effect, "key": t.key, "value": t.value} for t in pool.taints]
    if config.additional_tags:
        spec["additionalTags"] = dict(sorted(config.additional_tags.items()))
    return spec


def _managed_pool(cluster: ClusterSpec, config: AzureConfig, pool: WorkerPool, system: bool) -> list[dict[str, Any]]:
    """An AzureManagedMachinePool (one agent pool) and its MachinePool.

    Not content-named: the agent pool is the object, and CAPZ refuses changes
    to its immutable fields (VM size, OS disk) rather than replacing it.
    """
    name = pool_name(cluster, pool)
    agent_pool = k8s_object(CAPZ_VERSION, "AzureManagedMachinePool", name, cluster.namespace, spec=_pool_spec(config, pool, system))
    # Autoscaled: CAPI sizes the new pool from the annotations, AKS scales it from then on.
    return [agent_pool, node_pool_machine_pool(cluster, pool, agent_pool, version=cluster.kubernetes_version)]


def _pool_template(cluster: ClusterSpec, config: AzureConfig, pool: WorkerPool, system: bool) -> dict[str, Any]:
    template = {"template": {"spec": _pool_spec(config, pool, system)}}
    return template_object(CAPZ_VERSION, "AzureManagedMachinePoolTemplate", pool_name(cluster, pool), cluster.namespace, template)


def _bootstrap_template(cluster: ClusterSpec, pool: WorkerPool) -> dict[str, Any]:
    """A MachinePool class must name a bootstrap template; AKS ignores what it makes.
    CAPI v1beta2 wants at least one field: the default format, said out loud."""
    template = {"template": {"spec": {"format": "cloud-config"}}}
    return template_object(KUBEADM_BOOTSTRAP_VERSION, "KubeadmConfigTemplate", pool_name(cluster, pool), cluster.namespace, template)
