"""CAPZ objects for one cluster: pure functions of the cluster's settings.

:func:`render` answers ``render_provider_manifests``. :func:`complete_kubeadm`
answers ``modify_manifests`` for Azure clusters: it adds what CAPZ's templates
put in the kubeadm objects and :class:`~dokaseca.models.KubeadmSettings`
cannot carry yet (the etcd data disk, each worker pool's own azure.json, and
in ClusterClass mode the patches that name the Secrets CAPZ generates).

Machine templates and the AzureClusterTemplate are immutable in CAPZ, so each
is named after its content (:func:`dokaseca.manifests.versioned_name`): a
change renders a new object that the references follow.

What ``prepare`` found (``infra.outputs``: ``subscription_id``,
``resource_group``, ``cloud_provider_identity_id``) takes precedence over the
``azure:`` block. The ``aks`` flavor is in :mod:`dokaseca_azure.aks`.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping, MutableMapping
from typing import Any

from dokaseca.errors import ProviderError
from dokaseca.manifests import k8s_object, template_object, versioned_name
from dokaseca.models import ClusterSpec, InfraResult, KubeadmSettings, ProviderManifests

from dokaseca_azure import names
from dokaseca_azure.config import (
    AZURE_ZONES,
    DEFAULT_CONTROL_PLANE_SUBNET,
    DEFAULT_NODE_SUBNET,
    AzureConfig,
    api_server_private_ip,
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

# What an AzureClusterTemplate may hold of each networkSpec member; the rest of
# an AzureCluster's spec reaches the cluster through ClusterClass patches.
_TEMPLATE_FIELDS = {
    "vnet": ("cidrBlocks", "peerings", "tags"),
    "apiServerLB": ("idleTimeoutInMinutes", "sku", "type"),
    "controlPlaneOutboundLB": ("idleTimeoutInMinutes", "sku", "type"),
    "nodeOutboundLB": ("idleTimeoutInMinutes", "sku", "type"),
}


# In ClusterClass mode the AzureClusterTemplate carries what a template may
# hold; the rest of the AzureCluster's spec waits here, as JSON Patch operations,
# until complete_kubeadm() moves it into a ClusterClass patch.
PLACEMENT_ANNOTATION = "azure.dokaseca.io/cluster-placement"


def control_plane_template_name(cluster: ClusterSpec) -> str:
    """The control plane's AzureMachineTemplate name, before its content digest."""
    return f"{cluster.name}-control-plane"


def worker_template_name(cluster: ClusterSpec, pool_name: str) -> str:
    """A pool's AzureMachineTemplate name, before its content digest."""
    return f"{cluster.name}-{pool_name}"


def azure_json_secret(machine_template_name: str) -> str:
    """The Secret CAPZ writes for an AzureMachineTemplate."""
    return f"{machine_template_name}-azure-json"


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    if cluster.flavor == "aks":
        from dokaseca_azure import aks  # imports this module's helpers

        return aks.render(cluster, infra)
    config: AzureConfig = cluster.provider_config
    spec = cluster_spec(cluster, config, infra)
    if cluster.mode == "clusterclass":
        template_spec, placement = _split_template_spec(spec)
        wrapped = {"template": {"spec": template_spec}}
        annotations = {PLACEMENT_ANNOTATION: json.dumps(placement, sort_keys=True, separators=(",", ":"))} if placement else None
        infra_cluster = k8s_object(
            CAPZ_VERSION,
            "AzureClusterTemplate",
            versioned_name(cluster.name, wrapped),
            cluster.namespace,
            annotations=annotations,
            spec=wrapped,
        )
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
        extra=(identity_object(cluster, config),),
        kubeadm=_kubeadm_settings(cluster, config, control_plane["metadata"]["name"]),
    )


def subscription_id(cluster: ClusterSpec, config: AzureConfig, infra: InfraResult) -> str:
    """The subscription, from ``prepare`` or the block: the one thing only
    ``prepare`` may still provide (the fleet file is checked by checks.problems())."""
    found = infra.outputs.get("subscription_id") or config.subscription_id
    if not found:
        raise ProviderError(
            f"cluster {cluster.name!r}: no Azure subscription; set azure.subscriptionId (`az account show --query id -o tsv`)"
        )
    return found


def resource_group(cluster: ClusterSpec, infra: InfraResult) -> str:
    return infra.outputs.get("resource_group") or names.resource_group(cluster)


def vnet_placement(cluster: ClusterSpec, infra: InfraResult) -> tuple[str, str]:
    """(resource group, name) of the cluster's vnet: what ``prepare`` found, else
    the names it would use (:mod:`dokaseca_azure.names`), so both agree offline."""
    group, name = names.vnet(cluster)
    return infra.outputs.get("vnet_resource_group") or group, infra.outputs.get("vnet_name") or name


def cluster_spec(cluster: ClusterSpec, config: AzureConfig, infra: InfraResult) -> dict[str, Any]:
    """The AzureCluster spec (also the AzureClusterTemplate's, before it is split)."""
    spec: dict[str, Any] = {
        "location": cluster.region,
        "subscriptionID": subscription_id(cluster, config, infra),
        "resourceGroup": resource_group(cluster, infra),
        "identityRef": identity_ref(cluster, config),
        "networkSpec": _network_spec(cluster, config, infra),
    }
    zones = config.availability_zones
    if zones:
        # CAPZ discovers the location's zones itself; the spec can only take
        # zones away from the control plane.
        spec["failureDomains"] = {zone: {"controlPlane": False} for zone in AZURE_ZONES if zone not in zones}
        if not spec["failureDomains"]:
            del spec["failureDomains"]
    if config.additional_tags:
        spec["additionalTags"] = dict(sorted(config.additional_tags.items()))
    return spec


def _network_spec(cluster: ClusterSpec, config: AzureConfig, infra: InfraResult) -> dict[str, Any]:
    vnet_group, vnet_name = vnet_placement(cluster, infra)
    vnet: dict[str, Any] = {"name": vnet_name}
    if config.vnet.resource_group or vnet_group != resource_group(cluster, infra):  # else CAPZ's default: the cluster's group
        vnet["resourceGroup"] = vnet_group
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


def _machine_template(cluster: ClusterSpec, base_name: str, vm_size: str, infra: InfraResult, *, control_plane: bool) -> dict[str, Any]:
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
        machine["sshPublicKey"] = ssh_public_key_b64(config.ssh_public_key)
    spec = {"template": {"spec": machine}}
    return template_object(CAPZ_VERSION, "AzureMachineTemplate", base_name, cluster.namespace, spec)


def ssh_public_key_b64(key: str) -> str:
    """CAPZ takes public keys base64-encoded."""
    return base64.b64encode(key.strip().encode()).decode()


def _identity_name(cluster: ClusterSpec, config: AzureConfig) -> str:
    return config.identity.name or f"{cluster.name}-identity"


def identity_ref(cluster: ClusterSpec, config: AzureConfig) -> dict[str, str]:
    return {"apiVersion": CAPZ_VERSION, "kind": IDENTITY_KIND, "name": _identity_name(cluster, config), "namespace": cluster.namespace}


def identity_object(cluster: ClusterSpec, config: AzureConfig) -> dict[str, Any]:
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


def _kubeadm_settings(cluster: ClusterSpec, config: AzureConfig, control_plane_template: str) -> KubeadmSettings:
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
        control_plane_files=(azure_json_file(azure_json_secret(control_plane_template), CONTROL_PLANE_AZURE_JSON_KEY),),
        control_plane_pre_kubeadm_commands=pre,
        control_plane_post_kubeadm_commands=post,
    )


# -- completing the core's kubeadm objects (modify_manifests) --------------------------


def complete_kubeadm(cluster: ClusterSpec, objects: list[dict[str, Any]]) -> None:
    """Add the etcd disk, the workers' azure.json and (ClusterClass) the patches, in place.

    Objects are found through the references the core wrote (Cluster ->
    control plane, MachineDeployment or worker class -> bootstrap and machine
    templates), not by recomputing their content-derived names.
    """
    by_name = {(o.get("kind"), o.get("metadata", {}).get("name")): o for o in objects}
    cluster_obj = by_name.get(("Cluster", cluster.name))
    if cluster_obj is None:
        return
    if cluster.mode == "clusterclass":
        class_ref = cluster_obj["spec"].get("topology", {}).get("classRef", {})
        cluster_class = by_name.get(("ClusterClass", class_ref.get("name")))
        if cluster_class is not None:
            _complete_cluster_class(cluster_class, by_name)
        return

    kcp = _referenced(by_name, cluster_obj["spec"].get("controlPlaneRef"), "KubeadmControlPlane")
    if kcp is not None:
        _add_etcd_disk(kcp["spec"]["kubeadmConfigSpec"])
    for deployment in objects:
        if deployment.get("kind") != "MachineDeployment":
            continue
        machine_spec = deployment["spec"]["template"]["spec"]
        config_template = _referenced(by_name, machine_spec.get("bootstrap", {}).get("configRef"), "KubeadmConfigTemplate")
        machine_ref = machine_spec.get("infrastructureRef") or {}
        if config_template is not None and machine_ref.get("kind") == "AzureMachineTemplate":
            _add_worker_file(config_template, machine_ref["name"])


def _complete_cluster_class(cluster_class: MutableMapping[str, Any], by_name: Mapping[tuple[Any, Any], Any]) -> None:
    spec = cluster_class["spec"]
    kcp_template = _referenced(by_name, spec.get("controlPlane", {}).get("templateRef"), "KubeadmControlPlaneTemplate")
    kubeadm_spec = kcp_template["spec"]["template"]["spec"]["kubeadmConfigSpec"] if kcp_template is not None else None
    if kubeadm_spec is not None:
        _add_etcd_disk(kubeadm_spec)

    worker_files: list[tuple[str, Mapping[str, Any], int]] = []  # (class, KubeadmConfigTemplate, index of azure.json)
    for worker_class in spec.get("workers", {}).get("machineDeployments", []):
        config_template = _referenced(by_name, worker_class.get("bootstrap", {}).get("templateRef"), "KubeadmConfigTemplate")
        machine_ref = worker_class.get("infrastructure", {}).get("templateRef") or {}
        if config_template is not None and machine_ref.get("kind") == "AzureMachineTemplate":
            # The name is replaced by a patch: the topology copies the template under a generated name.
            index = _add_worker_file(config_template, machine_ref["name"])
            worker_files.append((worker_class["class"], config_template, index))

    patches: list[dict[str, Any]] = []
    infra_template = _referenced(by_name, spec.get("infrastructure", {}).get("templateRef"), "AzureClusterTemplate")
    if infra_template is not None:
        patches += _placement_patches(infra_template)
    patches += _azure_json_patches(kcp_template, kubeadm_spec, worker_files)
    if patches:
        spec.setdefault("patches", []).extend(patches)


def _referenced(by_name: Mapping[tuple[Any, Any], Any], ref: Mapping[str, Any] | None, kind: str) -> Any:
    """The object a reference names, when it is of ``kind`` and rendered."""
    if not ref or ref.get("kind") != kind:
        return None
    return by_name.get((kind, ref.get("name")))


def _add_worker_file(config_template: MutableMapping[str, Any], machine_template_name: str) -> int:
    """Add azure.json from the machine template's Secret; returns the file's index."""
    files = config_template["spec"]["template"]["spec"].setdefault("files", [])
    files.append(azure_json_file(azure_json_secret(machine_template_name), WORKER_AZURE_JSON_KEY))
    return len(files) - 1


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


def _split_template_spec(spec: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An AzureCluster spec as (what an AzureClusterTemplate may hold, JSON
    Patch operations that add the rest to the generated AzureCluster).

    Without the patch CAPZ would name the resource group and the vnet after
    the generated AzureCluster name, and a private API server would lose its
    address.
    """
    kept = copy.deepcopy(dict(spec))
    ops: list[dict[str, Any]] = []
    if "resourceGroup" in kept:
        ops.append({"op": "add", "path": "/spec/template/spec/resourceGroup", "value": kept.pop("resourceGroup")})
    network = kept.get("networkSpec", {})
    for key, allowed in _TEMPLATE_FIELDS.items():
        full = network.get(key)
        if full is None:
            continue
        template_part = {k: v for k, v in full.items() if k in allowed}
        if template_part == full:
            continue
        if template_part:
            network[key] = template_part
        else:
            del network[key]
        ops.append({"op": "add", "path": f"/spec/template/spec/networkSpec/{key}", "value": full})
    return kept, ops


def _placement_patches(infra_template: MutableMapping[str, Any]) -> list[dict[str, Any]]:
    """The ClusterClass patch that completes the AzureCluster (see _split_template_spec)."""
    annotations = infra_template["metadata"].get("annotations", {})
    placement = annotations.pop(PLACEMENT_ANNOTATION, None)
    if not annotations:
        infra_template["metadata"].pop("annotations", None)
    if not placement:
        return []
    selector = {
        "apiVersion": infra_template["apiVersion"],
        "kind": infra_template["kind"],
        "matchResources": {"infrastructureCluster": True},
    }
    return [{"name": "azure-cluster-placement", "definitions": [{"selector": selector, "jsonPatches": json.loads(placement)}]}]


def _azure_json_patches(
    kcp_template: Mapping[str, Any] | None,
    kubeadm_spec: Mapping[str, Any] | None,
    worker_files: list[tuple[str, Mapping[str, Any], int]],
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
    groups: dict[tuple[str, str, int], list[str]] = {}
    for class_name, config_template, index in worker_files:
        groups.setdefault((config_template["apiVersion"], config_template["kind"], index), []).append(class_name)
    for (api_version, kind, index), class_names in sorted(groups.items()):
        definitions.append(
            {
                "selector": {
                    "apiVersion": api_version,
                    "kind": kind,
                    "matchResources": {"machineDeploymentClass": {"names": sorted(class_names)}},
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
