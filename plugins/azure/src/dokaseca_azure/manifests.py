"""CAPZ objects for one cluster: pure functions of the cluster's settings.

:func:`render` answers ``render_provider_manifests``. :func:`complete_kubeadm`
answers ``modify_manifests`` for Azure clusters: it adds what CAPZ's templates
put in the kubeadm objects and :class:`~dokaseca.models.KubeadmSettings`
cannot carry yet (the etcd data disk, each worker pool's own azure.json, and
in ClusterClass mode the patches that name the Secrets CAPZ generates).

``prepare`` (a later release) may fill ``infra.outputs`` with
``subscription_id``, ``resource_group`` and ``cloud_provider_identity_id``;
they take precedence over the ``azure:`` block.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from dokaseca.errors import ProviderError
from dokaseca.manifests import k8s_object
from dokaseca.models import ClusterSpec, InfraResult, KubeadmSettings, ProviderManifests

from dokaseca_azure.config import (
    DEFAULT_CONTROL_PLANE_SUBNET,
    DEFAULT_NODE_SUBNET,
    AzureConfig,
    api_server_private_ip,
    vm_size_problem,
)

CAPZ_VERSION = "infrastructure.cluster.x-k8s.io/v1beta1"
IDENTITY_KIND = "AzureClusterIdentity"
MOVE_HIERARCHY_LABEL = "clusterctl.cluster.x-k8s.io/move-hierarchy"

# CAPZ writes a "<AzureMachineTemplate name>-azure-json" Secret for every machine
# template of a cluster, with one key per role.
AZURE_JSON_PATH = "/etc/kubernetes/azure.json"
CONTROL_PLANE_AZURE_JSON_KEY = "control-plane-azure.json"
WORKER_AZURE_JSON_KEY = "worker-node-azure.json"
NODE_NAME = '{{ ds.meta_data["local_hostname"] }}'

# etcd on its own managed disk, mounted where kubeadm is told to keep its data.
ETCD_DISK_DEVICE = "/dev/disk/azure/scsi1/lun0"
ETCD_DISK_LUN = 0
ETCD_DISK_SIZE_GB = 256
ETCD_MOUNT = "/var/lib/etcddisk"
ETCD_QUOTA_BACKEND_BYTES = "8589934592"  # 8 GiB, etcd's recommended maximum
# Azure VMs can take long to pull the control-plane images (CAPZ: 20m).
CONTROL_PLANE_HEALTH_TIMEOUT_SECONDS = 1200

ZONES = ("1", "2", "3")
_LOCATION = re.compile(r"^[a-z0-9]+$")

# What an AzureClusterTemplate may hold of each networkSpec member; the rest of
# an AzureCluster's spec reaches the cluster through ClusterClass patches.
_TEMPLATE_FIELDS = {
    "vnet": ("cidrBlocks", "peerings", "tags"),
    "apiServerLB": ("idleTimeoutInMinutes", "sku", "type"),
    "controlPlaneOutboundLB": ("idleTimeoutInMinutes", "sku", "type"),
    "nodeOutboundLB": ("idleTimeoutInMinutes", "sku", "type"),
}


def control_plane_template_name(cluster: ClusterSpec) -> str:
    return f"{cluster.name}-control-plane"


def worker_template_name(cluster: ClusterSpec, pool_name: str) -> str:
    return f"{cluster.name}-{pool_name}"


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    config: AzureConfig = cluster.provider_config
    _check(cluster, config, infra)
    spec = cluster_spec(cluster, config, infra)
    if cluster.mode == "clusterclass":
        # Holds the whole spec until complete_kubeadm() moves what a template
        # may not carry into the ClusterClass's patches.
        infra_cluster = k8s_object(CAPZ_VERSION, "AzureClusterTemplate", cluster.name, cluster.namespace, spec={"template": {"spec": spec}})
    else:
        infra_cluster = k8s_object(CAPZ_VERSION, "AzureCluster", cluster.name, cluster.namespace, spec=spec)
    control_plane = _machine_template(
        cluster,
        control_plane_template_name(cluster),
        cluster.control_plane.machine_size or config.vm_size,
        infra,
        control_plane=True,
    )
    workers = {
        pool.name: _machine_template(
            cluster, worker_template_name(cluster, pool.name), pool.machine_size or config.vm_size, infra, control_plane=False
        )
        for pool in cluster.workers
    }
    return ProviderManifests(
        infrastructure_cluster=infra_cluster,
        control_plane_machine_template=control_plane,
        worker_machine_templates=workers,
        extra=(_identity(cluster, config),),
        kubeadm=_kubeadm_settings(cluster, config),
    )


def _check(cluster: ClusterSpec, config: AzureConfig, infra: InfraResult) -> None:
    """What the ``azure:`` block cannot check alone; raised as ProviderError."""
    where = f"cluster {cluster.name!r}"
    if not _LOCATION.match(cluster.region or ""):
        raise ProviderError(
            f"{where}: region {cluster.region!r} is not an Azure location name; write it as 'westeurope' or 'eastus2'"
            " (`az account list-locations --query [].name -o tsv`)"
        )
    if not (infra.outputs.get("subscription_id") or config.subscription_id):
        raise ProviderError(f"{where}: no Azure subscription; set azure.subscriptionId (`az account show --query id -o tsv`)")
    sizes = [("controlPlane.machineSize", cluster.control_plane.machine_size)]
    sizes += [(f"workers[{pool.name}].machineSize", pool.machine_size) for pool in cluster.workers]
    for field, size in sizes:
        problem = size and vm_size_problem(size)
        if problem:
            raise ProviderError(f"{where}: {field} {size!r} is not an Azure VM size; {problem}")
    node_ranges = [
        *config.vnet.cidr_blocks,
        *config.subnets.effective_cidrs("control-plane"),
        *config.subnets.effective_cidrs("node"),
    ]
    for pods in cluster.network.pods:
        pod_net = ipaddress.ip_network(pods)
        for block in node_ranges:
            net = ipaddress.ip_network(block)
            if net.version == pod_net.version and net.overlaps(pod_net):
                raise ProviderError(
                    f"{where}: the pod range {pods} overlaps the Azure network {block}; pods would be unreachable."
                    " Change network.pods or the azure vnet/subnet ranges"
                )


def cluster_spec(cluster: ClusterSpec, config: AzureConfig, infra: InfraResult) -> dict[str, Any]:
    """The AzureCluster spec (also the AzureClusterTemplate's, before it is split)."""
    spec: dict[str, Any] = {
        "location": cluster.region,
        "subscriptionID": infra.outputs.get("subscription_id") or config.subscription_id,
        "resourceGroup": infra.outputs.get("resource_group") or config.resource_group or cluster.name,
        "identityRef": {
            "apiVersion": CAPZ_VERSION,
            "kind": IDENTITY_KIND,
            "name": _identity_name(cluster, config),
            "namespace": cluster.namespace,
        },
        "networkSpec": _network_spec(cluster, config),
    }
    zones = config.availability_zones
    if zones:
        # CAPZ discovers the location's zones itself; the spec can only take
        # zones away from the control plane.
        spec["failureDomains"] = {zone: {"controlPlane": False} for zone in ZONES if zone not in zones}
        if not spec["failureDomains"]:
            del spec["failureDomains"]
    if config.additional_tags:
        spec["additionalTags"] = dict(sorted(config.additional_tags.items()))
    return spec


def _network_spec(cluster: ClusterSpec, config: AzureConfig) -> dict[str, Any]:
    vnet: dict[str, Any] = {"name": config.vnet.name or f"{cluster.name}-vnet"}
    if config.vnet.resource_group:
        vnet["resourceGroup"] = config.vnet.resource_group
    if config.vnet.cidr_blocks:
        vnet["cidrBlocks"] = list(config.vnet.cidr_blocks)
    subnets = []
    for role, subnet, default_name in (
        ("control-plane", config.subnets.control_plane, DEFAULT_CONTROL_PLANE_SUBNET),
        ("node", config.subnets.node, DEFAULT_NODE_SUBNET),
    ):
        entry: dict[str, Any] = {"name": subnet.name or default_name, "role": role}
        if subnet.cidr_blocks:
            entry["cidrBlocks"] = list(subnet.cidr_blocks)
        subnets.append(entry)
    network: dict[str, Any] = {"vnet": vnet, "subnets": subnets}
    if config.api_endpoint == "private":
        lb_name = f"{cluster.name}-internal-lb"
        api_lb: dict[str, Any] = {
            "type": "Internal",
            "name": lb_name,
            "frontendIPs": [{"name": f"{lb_name}-frontEnd", "privateIP": api_server_private_ip(config)}],
        }
        if config.availability_zones:
            api_lb["availabilityZones"] = sorted(config.availability_zones)
        network["apiServerLB"] = api_lb
        # Without a public API load balancer the machines have no way out:
        # CAPZ's private template gives each role an outbound load balancer.
        network["controlPlaneOutboundLB"] = {"frontendIPsCount": 1}
        network["nodeOutboundLB"] = {"frontendIPsCount": 1}
    return network


def _machine_template(cluster: ClusterSpec, name: str, vm_size: str, infra: InfraResult, *, control_plane: bool) -> dict[str, Any]:
    config: AzureConfig = cluster.provider_config
    os_disk: dict[str, Any] = {"osType": "Linux", "diskSizeGB": config.os_disk.size_gb}
    if config.os_disk.type:
        os_disk["managedDisk"] = {"storageAccountType": config.os_disk.type}
    machine: dict[str, Any] = {"vmSize": vm_size, "osDisk": os_disk}
    if control_plane:
        machine["dataDisks"] = [{"nameSuffix": "etcddisk", "diskSizeGB": ETCD_DISK_SIZE_GB, "lun": ETCD_DISK_LUN}]
        identity_id = infra.outputs.get("cloud_provider_identity_id") or config.cloud_provider_identity_id
        if identity_id:
            machine["identity"] = "UserAssigned"
            machine["userAssignedIdentities"] = [{"providerID": f"azure://{identity_id}"}]
    if config.ssh_public_key:
        machine["sshPublicKey"] = base64.b64encode(config.ssh_public_key.strip().encode()).decode()
    return k8s_object(CAPZ_VERSION, "AzureMachineTemplate", name, cluster.namespace, spec={"template": {"spec": machine}})


def _identity_name(cluster: ClusterSpec, config: AzureConfig) -> str:
    return config.identity.name or f"{cluster.name}-identity"


def _identity(cluster: ClusterSpec, config: AzureConfig) -> dict[str, Any]:
    """The AzureClusterIdentity; a service principal's Secret is referenced, never rendered."""
    identity = config.identity
    spec: dict[str, Any] = {
        "type": identity.type,
        "clientID": identity.client_id,
        "tenantID": identity.tenant_id,
        # Only this cluster's namespace may use it ({} would allow every namespace).
        "allowedNamespaces": {"list": [cluster.namespace]},
    }
    if identity.type == "ServicePrincipal":
        spec["clientSecret"] = {"name": identity.secret_name, "namespace": identity.secret_namespace or cluster.namespace}
    return k8s_object(
        CAPZ_VERSION,
        IDENTITY_KIND,
        _identity_name(cluster, config),
        cluster.namespace,
        labels={MOVE_HIERARCHY_LABEL: "true"},  # `clusterctl move` takes it along with the cluster
        spec=spec,
    )


def azure_json_file(secret_name: str, key: str) -> dict[str, Any]:
    return {
        "contentFrom": {"secret": {"key": key, "name": secret_name}},
        "owner": "root:root",
        "path": AZURE_JSON_PATH,
        "permissions": "0644",
    }


def _kubeadm_settings(cluster: ClusterSpec, config: AzureConfig) -> KubeadmSettings:
    pre: tuple[str, ...] = ()
    post: tuple[str, ...] = ()
    if config.api_endpoint == "private":
        # Azure's internal load balancer does not send a VM's traffic back to
        # itself, so a control-plane node reaches its own API server directly:
        # right away on the first node, after joining on the others.
        hosts = f"echo '127.0.0.1   apiserver.{cluster.name}.capz.io apiserver' >> /etc/hosts"
        pre = (f"if [ -f /tmp/kubeadm.yaml ] || [ -f /run/kubeadm/kubeadm.yaml ]; then {hosts}; fi",)
        post = (f"if [ -f /tmp/kubeadm-join-config.yaml ] || [ -f /run/kubeadm/kubeadm-join-config.yaml ]; then {hosts}; fi",)
    return KubeadmSettings(
        kubelet_args={"cloud-provider": "external"},
        # Calico assigns pod addresses; cluster-name keeps cloud resources of clusters apart.
        controller_manager_args={"allocate-node-cidrs": "false", "cloud-provider": "external", "cluster-name": cluster.name},
        node_name=NODE_NAME,
        control_plane_files=(azure_json_file(f"{control_plane_template_name(cluster)}-azure-json", CONTROL_PLANE_AZURE_JSON_KEY),),
        control_plane_pre_kubeadm_commands=pre,
        control_plane_post_kubeadm_commands=post,
    )


# -- completing the core's kubeadm objects (modify_manifests) --------------------------


def complete_kubeadm(cluster: ClusterSpec, objects: list[dict[str, Any]]) -> None:
    """Add the etcd disk, the workers' azure.json and (ClusterClass) the patches, in place."""
    by_name = {(o.get("kind"), o.get("metadata", {}).get("name")): o for o in objects}
    clusterclass = cluster.mode == "clusterclass"
    cp_name = control_plane_template_name(cluster)
    if clusterclass:
        kcp = by_name.get(("KubeadmControlPlaneTemplate", cp_name))
        kubeadm_spec = kcp["spec"]["template"]["spec"]["kubeadmConfigSpec"] if kcp else None
    else:
        kcp = by_name.get(("KubeadmControlPlane", cp_name))
        kubeadm_spec = kcp["spec"]["kubeadmConfigSpec"] if kcp else None
    if kubeadm_spec is not None:
        _add_etcd_disk(kubeadm_spec)

    worker_file_index: dict[str, int] = {}
    for pool in cluster.workers:
        name = worker_template_name(cluster, pool.name)
        config_template = by_name.get(("KubeadmConfigTemplate", name))
        if config_template is None:
            continue
        files = config_template["spec"]["template"]["spec"].setdefault("files", [])
        files.append(azure_json_file(f"{name}-azure-json", WORKER_AZURE_JSON_KEY))
        worker_file_index[pool.name] = len(files) - 1

    if clusterclass:
        cluster_class = by_name.get(("ClusterClass", cluster.name))
        infra_template = by_name.get(("AzureClusterTemplate", cluster.name))
        if cluster_class is not None:
            patches = cluster_class["spec"].setdefault("patches", [])
            if infra_template is not None:
                patches += _placement_patches(infra_template)
            patches += _azure_json_patches(kcp, kubeadm_spec, by_name, cluster, worker_file_index)


def _add_etcd_disk(kubeadm_spec: MutableMapping[str, Any]) -> None:
    kubeadm_spec["diskSetup"] = {
        "partitions": [{"device": ETCD_DISK_DEVICE, "layout": True, "overwrite": False, "tableType": "gpt"}],
        "filesystems": [
            {
                "device": ETCD_DISK_DEVICE,
                "filesystem": "ext4",
                "label": "etcd_disk",
                "extraOpts": ["-E", "lazy_itable_init=1,lazy_journal_init=1"],
            },
            # A user-data diskSetup replaces cloud-init's Azure default, which
            # formats the VM's temporary disk; keep doing that.
            {"device": "ephemeral0.1", "filesystem": "ext4", "label": "ephemeral0", "replaceFS": "ntfs"},
        ],
    }
    kubeadm_spec["mounts"] = [["LABEL=etcd_disk", ETCD_MOUNT]]
    cluster_configuration = kubeadm_spec.setdefault("clusterConfiguration", {})
    cluster_configuration["etcd"] = {
        "local": {"dataDir": f"{ETCD_MOUNT}/etcd", "extraArgs": [{"name": "quota-backend-bytes", "value": ETCD_QUOTA_BACKEND_BYTES}]}
    }
    for phase in ("initConfiguration", "joinConfiguration"):
        kubeadm_spec.setdefault(phase, {}).setdefault("timeouts", {})["controlPlaneComponentHealthCheckSeconds"] = (
            CONTROL_PLANE_HEALTH_TIMEOUT_SECONDS
        )


def _placement_patches(infra_template: MutableMapping[str, Any]) -> list[dict[str, Any]]:
    """Move the AzureCluster fields an AzureClusterTemplate may not hold into a patch.

    Without it CAPZ would name the resource group and the vnet after the
    generated AzureCluster name, and a private API server would lose its
    address.
    """
    spec = infra_template["spec"]["template"]["spec"]
    ops: list[dict[str, Any]] = []
    if "resourceGroup" in spec:
        ops.append({"op": "add", "path": "/spec/template/spec/resourceGroup", "value": spec.pop("resourceGroup")})
    network = spec.get("networkSpec", {})
    for key, allowed in _TEMPLATE_FIELDS.items():
        full = network.get(key)
        if full is None:
            continue
        kept = {k: v for k, v in full.items() if k in allowed}
        if kept == full:
            continue
        if kept:
            network[key] = kept
        else:
            del network[key]
        ops.append({"op": "add", "path": f"/spec/template/spec/networkSpec/{key}", "value": full})
    if not ops:
        return []
    selector = {
        "apiVersion": infra_template["apiVersion"],
        "kind": infra_template["kind"],
        "matchResources": {"infrastructureCluster": True},
    }
    return [{"name": "azure-cluster-placement", "definitions": [{"selector": selector, "jsonPatches": ops}]}]


def _azure_json_patches(
    kcp_template: Mapping[str, Any] | None,
    kubeadm_spec: Mapping[str, Any] | None,
    by_name: Mapping[tuple[Any, Any], Mapping[str, Any]],
    cluster: ClusterSpec,
    worker_file_index: Mapping[str, int],
) -> list[dict[str, Any]]:
    """Point the azure.json files at the Secrets CAPZ makes for the topology's
    machine templates, which are copies of ours under generated names."""
    definitions: list[dict[str, Any]] = []
    files = list((kubeadm_spec or {}).get("files", []))
    cp_index = next((i for i, f in enumerate(files) if f.get("path") == AZURE_JSON_PATH), None)
    if kcp_template is not None and cp_index is not None:
        definitions.append(
            {
                "selector": {
                    "apiVersion": kcp_template["apiVersion"],
                    "kind": kcp_template["kind"],
                    "matchResources": {"controlPlane": True},
                },
                "jsonPatches": [
                    _secret_name_patch(
                        f"/spec/template/spec/kubeadmConfigSpec/files/{cp_index}",
                        "{{ .builtin.controlPlane.machineTemplate.infrastructureRef.name }}-azure-json",
                    )
                ],
            }
        )
    pools_by_index: dict[int, list[str]] = {}
    for pool_name, index in worker_file_index.items():
        pools_by_index.setdefault(index, []).append(pool_name)
    for index, pool_names in sorted(pools_by_index.items()):
        template = by_name[("KubeadmConfigTemplate", worker_template_name(cluster, pool_names[0]))]
        definitions.append(
            {
                "selector": {
                    "apiVersion": template["apiVersion"],
                    "kind": template["kind"],
                    "matchResources": {"machineDeploymentClass": {"names": sorted(pool_names)}},
                },
                "jsonPatches": [
                    _secret_name_patch(
                        f"/spec/template/spec/files/{index}", "{{ .builtin.machineDeployment.infrastructureRef.name }}-azure-json"
                    )
                ],
            }
        )
    if not definitions:
        return []
    return [{"name": "azure-json-secret-names", "definitions": definitions}]


def _secret_name_patch(file_path: str, template: str) -> dict[str, Any]:
    return {"op": "replace", "path": f"{file_path}/contentFrom/secret/name", "valueFrom": {"template": template}}
