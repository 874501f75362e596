"""Rendering of Azure clusters: content, CRD validity, config errors, and
agreement with CAPZ's own cluster templates."""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from dokaseca.config import parse_fleet
from dokaseca.crds import CRDSchemas
from dokaseca.errors import FleetError, ProviderError
from dokaseca.manifests import dump_all
from dokaseca.models import InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.render import render_cluster
from dokaseca.testing import OneClusterFleet, by_kind, clusterctl_template, content_named, extra_args, one

import dokaseca_azure.plugin

SUBSCRIPTION = "0b8f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
CLIENT_ID = "5d1c9f3e-7a2b-4c8d-9e0f-1a2b3c4d5e6f"
TENANT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com"
USER_IDENTITY = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cloud-provider"
)
CAPZ = "infrastructure.cluster.x-k8s.io/v1beta1"

BASE_CONFIG: dict[str, Any] = {
    "subscriptionId": SUBSCRIPTION,
    "identity": {"clientId": CLIENT_ID, "tenantId": TENANT_ID},
}


# -- helpers ----------------------------------------------------------------------


FLEET = OneClusterFleet("azure", BASE_CONFIG, name="prod-1", region="westeurope")
fleet_text, with_config, render, problems_of = FLEET.text, FLEET.with_config, FLEET.render, FLEET.problems


@pytest.fixture
def host(plugin_host: Callable[..., PluginHost]) -> PluginHost:
    return plugin_host(("azure", dokaseca_azure.plugin))


def bootstrap_template(objects: list[dict], base: str) -> dict:
    # Named by the core before complete_kubeadm adds the pool's azure.json file,
    # so its digest is not that of the final spec.
    return content_named(objects, "KubeadmConfigTemplate", base, digest_of_spec=False)


def machine_template(objects: list[dict], base: str) -> dict:
    return content_named(objects, "AzureMachineTemplate", base)


def machine(objects: list[dict], base: str) -> dict:
    return machine_template(objects, base)["spec"]["template"]["spec"]


def secret_of(files: list[dict]) -> str:
    """The Secret the one azure.json file comes from."""
    (azure_json,) = [f for f in files if f["path"] == "/etc/kubernetes/azure.json"]
    return azure_json["contentFrom"]["secret"]["name"]


def apply_patches(cluster_class: dict, target: dict, builtins: dict[str, str], **match: Any) -> dict:
    """What CAPI's topology controller does with our ClusterClass patches (the
    subset we use: add/replace with a value or a builtin-name template)."""
    patched = copy.deepcopy(target)
    for patch in cluster_class["spec"].get("patches", []):
        for definition in patch["definitions"]:
            selector = definition["selector"]
            if (selector["apiVersion"], selector["kind"]) != (target["apiVersion"], target["kind"]):
                continue
            resources = selector["matchResources"]
            pools = resources.get("machineDeploymentClass", {}).get("names", [])
            if not (
                (match.get("infrastructure_cluster") and resources.get("infrastructureCluster"))
                or (match.get("control_plane") and resources.get("controlPlane"))
                or match.get("pool") in pools
            ):
                continue
            for op in definition["jsonPatches"]:
                if "valueFrom" in op:
                    value = re.sub(r"\{\{ \.([\w.]+) \}\}", lambda m: builtins[m.group(1)], op["valueFrom"]["template"])
                else:
                    value = copy.deepcopy(op["value"])
                *parents, leaf = op["path"].strip("/").split("/")
                node: Any = patched
                for part in parents:
                    node = node[int(part)] if isinstance(node, list) else node[part]
                if op["op"] == "replace":
                    assert (int(leaf) < len(node)) if isinstance(node, list) else (leaf in node), f"replace of a missing {op['path']}"
                if isinstance(node, list):
                    node[int(leaf)] = value
                else:
                    node[leaf] = value
    return patched


# -- classic -------------------------------------------------------------------------


def test_classic_cluster_renders_valid_capz_objects(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(host, workers=[{"name": "general", "replicas": 2}, {"name": "batch", "replicas": 1}])

    assert crd_schemas.validate_all(objects) == []
    azure_cluster = one(objects, "AzureCluster", "prod-1")
    assert azure_cluster["apiVersion"] == CAPZ
    assert azure_cluster["metadata"]["namespace"] == "prod"
    assert azure_cluster["spec"] == {
        "location": "westeurope",
        "subscriptionID": SUBSCRIPTION,
        "resourceGroup": "prod-1",
        "identityRef": {"apiVersion": CAPZ, "kind": "AzureClusterIdentity", "name": "prod-1-identity", "namespace": "prod"},
        "networkSpec": {
            "vnet": {"name": "prod-1-vnet"},
            "subnets": [{"name": "control-plane-subnet", "role": "control-plane"}, {"name": "node-subnet", "role": "node"}],
        },
    }
    assert one(objects, "Cluster")["spec"]["infrastructureRef"] == {
        "apiGroup": "infrastructure.cluster.x-k8s.io",
        "kind": "AzureCluster",
        "name": "prod-1",
    }

    assert len([o for o in objects if o["kind"] == "AzureMachineTemplate"]) == 3
    kcp = one(objects, "KubeadmControlPlane")
    cp_template = machine_template(objects, "prod-1-control-plane")
    assert kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"] == cp_template["metadata"]["name"]
    for pool in ("general", "batch"):
        deployment = one(objects, "MachineDeployment", f"prod-1-{pool}")
        worker_template = machine_template(objects, f"prod-1-{pool}")
        assert deployment["spec"]["template"]["spec"]["infrastructureRef"]["name"] == worker_template["metadata"]["name"]
        worker = worker_template["spec"]["template"]["spec"]
        assert worker == {"vmSize": "Standard_D2s_v3", "osDisk": {"osType": "Linux", "diskSizeGB": 128}}
    control_plane = machine(objects, "prod-1-control-plane")
    assert control_plane["dataDisks"] == [{"nameSuffix": "etcddisk", "diskSizeGB": 256, "lun": 0}]
    assert "identity" not in control_plane and "sshPublicKey" not in control_plane

    identity = one(objects, "AzureClusterIdentity", "prod-1-identity")
    assert identity["metadata"]["namespace"] == "prod"  # namespaced in CAPZ
    assert identity["spec"] == {
        "type": "WorkloadIdentity",
        "clientID": CLIENT_ID,
        "tenantID": TENANT_ID,
        "allowedNamespaces": {"list": ["prod"]},
    }
    # Applied before what references it.
    kinds = [o["kind"] for o in objects]
    assert kinds.index("AzureClusterIdentity") < kinds.index("AzureCluster") < kinds.index("Cluster")


def test_kubeadm_objects_get_cloud_provider_settings_and_azure_json(host: PluginHost) -> None:
    objects = render(host, workers=[{"name": "general", "replicas": 2}, {"name": "batch", "replicas": 1, "labels": {"tier": "batch"}}])
    spec = one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    cp_secret = machine_template(objects, "prod-1-control-plane")["metadata"]["name"] + "-azure-json"

    assert extra_args(spec["clusterConfiguration"]["controllerManager"]["extraArgs"]) == {
        "allocate-node-cidrs": "false",
        "cloud-provider": "external",
        "cluster-name": "prod-1",
    }
    for phase in ("initConfiguration", "joinConfiguration"):
        registration = spec[phase]["nodeRegistration"]
        assert registration["name"] == '{{ ds.meta_data["local_hostname"] }}'
        assert extra_args(registration["kubeletExtraArgs"]) == {"cloud-provider": "external"}
        assert spec[phase]["timeouts"] == {"controlPlaneComponentHealthCheckSeconds": 1200}
    assert spec["files"] == [
        {
            "contentFrom": {"secret": {"key": "control-plane-azure.json", "name": cp_secret}},
            "owner": "root:root",
            "path": "/etc/kubernetes/azure.json",
            "permissions": "0644",
        }
    ]
    assert "preKubeadmCommands" not in spec  # only private clusters need /etc/hosts help

    # etcd on the control plane's data disk (LUN 0), where kubeadm keeps its data.
    assert spec["diskSetup"]["partitions"][0]["device"] == "/dev/disk/azure/scsi1/lun0"
    etcd_fs = next(f for f in spec["diskSetup"]["filesystems"] if f["label"] == "etcd_disk")
    assert etcd_fs["device"] == "/dev/disk/azure/scsi1/lun0" and etcd_fs["filesystem"] == "ext4"
    assert spec["mounts"] == [["LABEL=etcd_disk", "/var/lib/etcddisk"]]
    assert spec["clusterConfiguration"]["etcd"]["local"]["dataDir"].startswith("/var/lib/etcddisk/")

    for pool in ("general", "batch"):
        worker = bootstrap_template(objects, f"prod-1-{pool}")["spec"]["template"]["spec"]
        worker_secret = machine_template(objects, f"prod-1-{pool}")["metadata"]["name"] + "-azure-json"
        assert worker["files"] == [
            {
                "contentFrom": {"secret": {"key": "worker-node-azure.json", "name": worker_secret}},
                "owner": "root:root",
                "path": "/etc/kubernetes/azure.json",
                "permissions": "0644",
            }
        ]
        registration = worker["joinConfiguration"]["nodeRegistration"]
        assert registration["name"] == '{{ ds.meta_data["local_hostname"] }}'
        assert extra_args(registration["kubeletExtraArgs"])["cloud-provider"] == "external"
        assert "diskSetup" not in worker  # workers have no etcd disk
    batch = bootstrap_template(objects, "prod-1-batch")["spec"]["template"]["spec"]
    assert extra_args(batch["joinConfiguration"]["nodeRegistration"]["kubeletExtraArgs"])["node-labels"] == "tier=batch"


def test_machine_sizes_come_from_the_pools_and_control_plane(host: PluginHost) -> None:
    objects = render(
        host,
        with_config(vmSize="Standard_D4s_v5"),
        workers=[{"name": "general", "replicas": 2}, {"name": "gpu", "replicas": 1, "machineSize": "Standard_NC6s_v3"}],
        controlPlane={"machineSize": "Standard_D8s_v5"},
    )
    assert machine(objects, "prod-1-control-plane")["vmSize"] == "Standard_D8s_v5"
    assert machine(objects, "prod-1-general")["vmSize"] == "Standard_D4s_v5"
    assert machine(objects, "prod-1-gpu")["vmSize"] == "Standard_NC6s_v3"


def _azure_json_wiring(objects: list[dict]) -> list[tuple[str, str]]:
    """(Secret an azure.json file reads, machine template the same machines use)
    for the control plane and every pool, following the rendered references."""
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    pairs = []
    kcps = [o for o in objects if o["kind"] == "KubeadmControlPlane"]
    if kcps:
        (kcp,) = kcps
        pairs.append(
            (secret_of(kcp["spec"]["kubeadmConfigSpec"]["files"]), kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"])
        )
        for deployment in (o for o in objects if o["kind"] == "MachineDeployment"):
            machine_spec = deployment["spec"]["template"]["spec"]
            config = by_name[("KubeadmConfigTemplate", machine_spec["bootstrap"]["configRef"]["name"])]
            pairs.append((secret_of(config["spec"]["template"]["spec"]["files"]), machine_spec["infrastructureRef"]["name"]))
    else:
        class_spec = one(objects, "ClusterClass")["spec"]
        kcp_template = by_name[("KubeadmControlPlaneTemplate", class_spec["controlPlane"]["templateRef"]["name"])]
        pairs.append(
            (
                secret_of(kcp_template["spec"]["template"]["spec"]["kubeadmConfigSpec"]["files"]),
                class_spec["controlPlane"]["machineInfrastructure"]["templateRef"]["name"],
            )
        )
        for worker_class in class_spec["workers"]["machineDeployments"]:
            config = by_name[("KubeadmConfigTemplate", worker_class["bootstrap"]["templateRef"]["name"])]
            pairs.append((secret_of(config["spec"]["template"]["spec"]["files"]), worker_class["infrastructure"]["templateRef"]["name"]))
    return pairs


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_azure_json_secrets_are_named_after_the_rendered_machine_templates(host: PluginHost, mode: str) -> None:
    objects = render(host, mode=mode, workers=[{"name": "general", "replicas": 2}, {"name": "batch", "replicas": 1}])
    template_names = {o["metadata"]["name"] for o in objects if o["kind"] == "AzureMachineTemplate"}
    wiring = _azure_json_wiring(objects)

    assert len(wiring) == 3 and {name for _, name in wiring} == template_names
    for secret, machine_template_name in wiring:
        assert secret == machine_template_name + "-azure-json"
    # (In ClusterClass mode a patch then renames them after the topology's copies.)


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_a_changed_pool_gets_a_new_template_and_the_others_keep_theirs(host: PluginHost, mode: str) -> None:
    def names(batch_size: str) -> tuple[dict[str, str], list[dict]]:
        objects = render(
            host,
            mode=mode,
            workers=[{"name": "general", "replicas": 2}, {"name": "batch", "replicas": 1, "machineSize": batch_size}],
        )
        templates = {
            "control-plane": machine_template(objects, "prod-1-control-plane"),
            "general": machine_template(objects, "prod-1-general"),
            "batch": machine_template(objects, "prod-1-batch"),
        }
        found = {key: o["metadata"]["name"] for key, o in templates.items()}
        cluster_kind = "AzureClusterTemplate" if mode == "clusterclass" else "AzureCluster"
        found["cluster"] = one(objects, cluster_kind)["metadata"]["name"]
        return found, objects

    before, _ = names("Standard_D4s_v5")
    after, objects = names("Standard_D8s_v5")
    assert after["batch"] != before["batch"]
    assert machine(objects, "prod-1-batch")["vmSize"] == "Standard_D8s_v5"
    assert {k: v for k, v in after.items() if k != "batch"} == {k: v for k, v in before.items() if k != "batch"}
    # The pool's references and its azure.json follow the new template.
    assert (after["batch"] + "-azure-json", after["batch"]) in _azure_json_wiring(objects)


def test_disk_ssh_key_and_cloud_provider_identity(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(
        host,
        with_config(osDisk={"sizeGb": 64, "type": "Premium_LRS"}, sshPublicKey=SSH_KEY, cloudProviderIdentityId=USER_IDENTITY),
    )
    assert crd_schemas.validate_all(objects) == []
    control_plane, worker = machine(objects, "prod-1-control-plane"), machine(objects, "prod-1-general")
    for spec in (control_plane, worker):
        assert spec["osDisk"] == {"osType": "Linux", "diskSizeGB": 64, "managedDisk": {"storageAccountType": "Premium_LRS"}}
        assert base64.b64decode(spec["sshPublicKey"]).decode() == SSH_KEY  # CAPZ takes it base64-encoded
    # The cloud provider's identity sits on the control plane only, as in CAPZ's template.
    assert control_plane["identity"] == "UserAssigned"
    assert control_plane["userAssignedIdentities"] == [{"providerID": f"azure://{USER_IDENTITY}"}]
    assert "identity" not in worker and "userAssignedIdentities" not in worker


def test_existing_vnet_subnets_zones_and_tags(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(
        resourceGroup="rg-prod",
        vnet={"name": "hub-vnet", "resourceGroup": "rg-network", "cidrBlocks": ["172.16.0.0/12"]},
        subnets={
            "controlPlane": {"name": "prod-1-cp", "cidrBlocks": ["172.16.0.0/24"]},
            "node": {"name": "prod-1-nodes", "cidrBlocks": ["172.17.0.0/16"]},
        },
        availabilityZones=["1", "3"],
        additionalTags={"team": "platform", "cost-center": "42"},
    )
    objects = render(host, config)
    assert crd_schemas.validate_all(objects) == []
    spec = one(objects, "AzureCluster")["spec"]
    assert spec["resourceGroup"] == "rg-prod"
    assert spec["networkSpec"]["vnet"] == {"name": "hub-vnet", "resourceGroup": "rg-network", "cidrBlocks": ["172.16.0.0/12"]}
    assert spec["networkSpec"]["subnets"] == [
        {"name": "prod-1-cp", "role": "control-plane", "cidrBlocks": ["172.16.0.0/24"]},
        {"name": "prod-1-nodes", "role": "node", "cidrBlocks": ["172.17.0.0/16"]},
    ]
    # Zone 2 is the only one the control plane must avoid.
    assert spec["failureDomains"] == {"2": {"controlPlane": False}}
    assert list(spec["additionalTags"].items()) == [("cost-center", "42"), ("team", "platform")]
    assert "apiServerLB" not in spec["networkSpec"]  # public: CAPZ's default


def test_all_three_zones_need_no_failure_domains(host: PluginHost) -> None:
    spec = one(render(host, with_config(availabilityZones=["3", "1", "2"])), "AzureCluster")["spec"]
    assert "failureDomains" not in spec


def test_private_api_server_uses_an_internal_load_balancer(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(
        apiEndpoint="private",
        availabilityZones=["1", "2", "3"],
        subnets={"controlPlane": {"cidrBlocks": ["10.20.0.0/24"]}, "node": {"cidrBlocks": ["10.21.0.0/16"]}},
    )
    objects = render(host, config)
    assert crd_schemas.validate_all(objects) == []
    network = one(objects, "AzureCluster")["spec"]["networkSpec"]
    assert network["apiServerLB"] == {
        "type": "Internal",
        "name": "prod-1-internal-lb",
        "frontendIPs": [{"name": "prod-1-internal-lb-frontEnd", "privateIP": "10.20.0.100"}],
        "availabilityZones": ["1", "2", "3"],
    }
    assert network["controlPlaneOutboundLB"] == {"frontendIPsCount": 1}
    assert network["nodeOutboundLB"] == {"frontendIPsCount": 1}

    spec = one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    (pre,) = spec["preKubeadmCommands"]
    (post,) = spec["postKubeadmCommands"]
    hosts_line = "echo '127.0.0.1   apiserver.prod-1.capz.io apiserver' >> /etc/hosts"
    assert hosts_line in pre and "/run/kubeadm/kubeadm.yaml" in pre  # the first node, before kubeadm init
    assert hosts_line in post and "/run/kubeadm/kubeadm-join-config.yaml" in post  # the others, after joining
    worker = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    assert "preKubeadmCommands" not in worker


def test_private_api_server_address_can_be_chosen(host: PluginHost) -> None:
    objects = render(host, with_config(apiEndpoint="private", apiServerPrivateIp="10.0.4.4"))
    frontend = one(objects, "AzureCluster")["spec"]["networkSpec"]["apiServerLB"]["frontendIPs"][0]
    assert frontend["privateIP"] == "10.0.4.4"


def test_service_principal_identity_references_its_secret(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    identity = {"type": "ServicePrincipal", "clientId": CLIENT_ID, "tenantId": TENANT_ID, "secretName": "prod-sp", "name": "shared"}
    objects = render(host, with_config(identity=identity))
    assert crd_schemas.validate_all(objects) == []
    spec = one(objects, "AzureClusterIdentity", "shared")["spec"]
    assert spec["type"] == "ServicePrincipal"
    assert spec["clientSecret"] == {"name": "prod-sp", "namespace": "prod"}
    assert one(objects, "AzureCluster")["spec"]["identityRef"]["name"] == "shared"
    assert not [o for o in objects if o["kind"] == "Secret"]  # referenced, never rendered

    elsewhere = render(host, with_config(identity={**identity, "secretNamespace": "capz-system"}))
    assert one(elsewhere, "AzureClusterIdentity")["spec"]["clientSecret"]["namespace"] == "capz-system"


def test_infra_outputs_take_precedence_over_the_config(host: PluginHost) -> None:
    other_sub = "11111111-2222-4333-8444-555555555555"
    infra = InfraResult(
        outputs={"subscription_id": other_sub, "resource_group": "rg-from-prepare", "cloud_provider_identity_id": USER_IDENTITY}
    )
    objects = render(host, infra=infra)
    spec = one(objects, "AzureCluster")["spec"]
    assert spec["subscriptionID"] == other_sub
    assert spec["resourceGroup"] == "rg-from-prepare"
    assert machine(objects, "prod-1-control-plane")["userAssignedIdentities"] == [{"providerID": f"azure://{USER_IDENTITY}"}]

    # prepare may find the subscription when the fleet file does not name one.
    without = {"identity": BASE_CONFIG["identity"]}
    assert one(render(host, without, infra=infra), "AzureCluster")["spec"]["subscriptionID"] == other_sub


# -- ClusterClass ------------------------------------------------------------------------


@pytest.mark.parametrize("api_endpoint", ["public", "private"])
def test_clusterclass_patches_give_the_same_cluster_as_classic_mode(host: PluginHost, crd_schemas: CRDSchemas, api_endpoint: str) -> None:
    config = with_config(
        apiEndpoint=api_endpoint, resourceGroup="rg-prod", vnet={"resourceGroup": "rg-network", "cidrBlocks": ["10.0.0.0/8"]}
    )
    workers = [{"name": "general", "replicas": 2}, {"name": "batch", "replicas": 1}]
    topology = render(host, config, mode="clusterclass", workers=workers)
    classic = render(host, config, workers=workers)
    assert crd_schemas.validate_all(topology) == []
    assert not [o for o in topology if o["kind"] == "AzureCluster"]

    # Named after what it finally holds, and carrying nothing else.
    infra_template = content_named(topology, "AzureClusterTemplate", "prod-1")
    assert "annotations" not in infra_template["metadata"]
    template_spec = infra_template["spec"]["template"]["spec"]
    assert "resourceGroup" not in template_spec  # not a template field: it comes from a patch
    assert template_spec["networkSpec"].get("vnet") == {"cidrBlocks": ["10.0.0.0/8"]}
    cluster_class = one(topology, "ClusterClass", "prod-1")
    assert cluster_class["spec"]["infrastructure"]["templateRef"] == {
        "apiVersion": CAPZ,
        "kind": "AzureClusterTemplate",
        "name": infra_template["metadata"]["name"],
    }

    # The AzureCluster the topology controller makes equals the classic one.
    patched = apply_patches(cluster_class, infra_template, {}, infrastructure_cluster=True)
    assert patched["spec"]["template"]["spec"] == one(classic, "AzureCluster")["spec"]

    # azure.json comes from the Secrets CAPZ writes for the topology's copies of our machine templates.
    kcp_template = one(topology, "KubeadmControlPlaneTemplate")
    patched_kcp = apply_patches(
        cluster_class,
        kcp_template,
        {"builtin.controlPlane.machineTemplate.infrastructureRef.name": "prod-1-control-plane-x7k2p"},
        control_plane=True,
    )
    (cp_file,) = patched_kcp["spec"]["template"]["spec"]["kubeadmConfigSpec"]["files"]
    assert cp_file["contentFrom"]["secret"] == {"key": "control-plane-azure.json", "name": "prod-1-control-plane-x7k2p-azure-json"}
    for pool in ("general", "batch"):
        config_template = bootstrap_template(topology, f"prod-1-{pool}")
        patched_worker = apply_patches(
            cluster_class, config_template, {"builtin.machineDeployment.infrastructureRef.name": f"prod-1-{pool}-q9z"}, pool=pool
        )
        (worker_file,) = patched_worker["spec"]["template"]["spec"]["files"]
        assert worker_file["contentFrom"]["secret"] == {"key": "worker-node-azure.json", "name": f"prod-1-{pool}-q9z-azure-json"}

    kcp_spec = kcp_template["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    assert kcp_spec["mounts"] == [["LABEL=etcd_disk", "/var/lib/etcddisk"]]
    assert one(topology, "Cluster")["spec"]["topology"]["classRef"] == {"name": "prod-1"}


def test_clusterclass_private_template_keeps_only_template_fields(host: PluginHost) -> None:
    objects = render(host, with_config(apiEndpoint="private"), mode="clusterclass")
    network = one(objects, "AzureClusterTemplate")["spec"]["template"]["spec"]["networkSpec"]
    assert network["apiServerLB"] == {"type": "Internal"}
    assert "controlPlaneOutboundLB" not in network and "vnet" not in network


# -- checks that need the whole cluster (check_cluster) -------------------------------------


@pytest.mark.parametrize(
    ("config", "cluster", "path", "fragment"),
    [
        (BASE_CONFIG, {"region": "West Europe"}, "region", "is not an Azure location name"),
        (
            BASE_CONFIG,
            {"workers": [{"name": "general", "replicas": 1, "machineSize": "large"}]},
            "workers.general.machineSize",
            "is not an Azure VM size (got 'large')",
        ),
        (BASE_CONFIG, {"controlPlane": {"machineSize": "m5.large"}}, "controlPlane.machineSize", "is not an Azure VM size"),
        (BASE_CONFIG, {"network": {"pods": ["10.1.0.0/16"]}}, "network.pods", "entry 0 overlaps the Azure network 10.1.0.0/16"),
        (
            with_config(vnet={"cidrBlocks": ["10.0.0.0/8"]}),
            {"network": {"pods": ["192.168.0.0/16", "10.200.0.0/16"]}},
            "network.pods",
            "entry 1 overlaps the Azure network 10.0.0.0/8",
        ),
        (
            BASE_CONFIG,
            {"workers": [{"name": "general", "replicas": 1, "failureDomain": "westeurope-1"}]},
            "workers.general.failureDomain",
            "is not an Azure availability zone",
        ),
        (
            with_config(availabilityZones=["1", "2"]),
            {"workers": [{"name": "general", "replicas": 1, "failureDomain": "3"}]},
            "workers.general.failureDomain",
            "is not one of azure.availabilityZones (got '3'); use one of '1', '2'",
        ),
    ],
)
def test_cluster_level_problems_are_reported_at_their_path(host: PluginHost, config: dict, cluster: dict, path: str, fragment: str) -> None:
    problems = problems_of(host, config, **cluster)
    full_path = f"clusters[0].{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


def test_every_cluster_level_problem_is_reported_at_once(host: PluginHost) -> None:
    problems = problems_of(
        host,
        with_config(availabilityZones=["1"]),
        region="West Europe",
        controlPlane={"machineSize": "big"},
        workers=[
            {"name": "general", "replicas": 1, "machineSize": "large", "failureDomain": "2"},
            {"name": "batch", "replicas": 1, "failureDomain": "0"},
        ],
        network={"pods": ["10.0.0.0/15"]},
    )
    assert sorted(problems) == [
        "clusters[0].controlPlane.machineSize",
        "clusters[0].network.pods",
        "clusters[0].region",
        "clusters[0].workers.batch.failureDomain",
        "clusters[0].workers.general.failureDomain",
        "clusters[0].workers.general.machineSize",
    ]
    # Both CAPZ default subnets lie inside 10.0.0.0/15.
    assert "10.0.0.0/16, 10.1.0.0/16" in problems["clusters[0].network.pods"]


def test_check_cluster_ignores_other_providers(host: PluginHost) -> None:
    import attrs

    cluster = parse_fleet(fleet_text(), host).clusters[0]
    foreign = attrs.evolve(host.providers["azure"], name="someone-else")
    assert dokaseca_azure.plugin.check_cluster(cluster=cluster, provider=foreign) is None
    assert dokaseca_azure.plugin.check_cluster(cluster=cluster, provider=host.providers["azure"]) == []


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_a_pool_can_be_placed_in_a_configured_zone(host: PluginHost, crd_schemas: CRDSchemas, mode: str) -> None:
    objects = render(
        host,
        with_config(availabilityZones=["1", "2"]),
        mode=mode,
        workers=[{"name": "general", "replicas": 2, "failureDomain": "2"}, {"name": "batch", "replicas": 1}],
    )
    assert crd_schemas.validate_all(objects) == []
    if mode == "classic":
        assert one(objects, "MachineDeployment", "prod-1-general")["spec"]["template"]["spec"]["failureDomain"] == "2"
        assert "failureDomain" not in one(objects, "MachineDeployment", "prod-1-batch")["spec"]["template"]["spec"]
    else:
        pools = one(objects, "Cluster")["spec"]["topology"]["workers"]["machineDeployments"]
        assert [pool.get("failureDomain") for pool in pools] == ["2", None]


def test_render_needs_a_subscription_unless_prepare_found_one(host: PluginHost) -> None:
    # The one check left to render: prepare may still provide the subscription.
    spec = parse_fleet(fleet_text({"identity": BASE_CONFIG["identity"]}), host).clusters[0]
    with pytest.raises(ProviderError) as caught:
        render_cluster(host, spec)
    assert "set azure.subscriptionId" in str(caught.value)
    assert "prod-1" in str(caught.value)


# -- config validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path", "fragment"),
    [
        (with_config(subscriptionId="my-subscription"), "subscriptionId", "is not a subscription id (a GUID)"),
        (with_config(identity={"clientId": "app", "tenantId": TENANT_ID}), "identity.clientId", "is not a client id"),
        (with_config(identity={"clientId": CLIENT_ID, "tenantId": "contoso.onmicrosoft.com"}), "identity.tenantId", "is not a tenant id"),
        (with_config(identity={"clientId": CLIENT_ID}), "identity.tenantId", "required key is missing"),
        ({"subscriptionId": SUBSCRIPTION}, "identity", "required key is missing"),
        (with_config(identity={**BASE_CONFIG["identity"], "type": "WorkloadIdentiy"}), "identity.type", "did you mean 'WorkloadIdentity'?"),
        (
            with_config(identity={**BASE_CONFIG["identity"], "type": "ServicePrincipal"}),
            "identity.secretName",
            "is required when type is 'ServicePrincipal'",
        ),
        (
            with_config(identity={**BASE_CONFIG["identity"], "secretName": "sp"}),
            "identity.secretName",
            "only used when type is 'ServicePrincipal'",
        ),
        (with_config(resourceGroup="rg/prod"), "resourceGroup", "is not a resource group name"),
        (with_config(vmSize="large"), "vmSize", "is not an Azure VM size"),
        (with_config(osDisk={"sizeGb": 10}), "osDisk.sizeGb", "must be between 30 and 4095"),
        (with_config(osDisk={"type": "UltraSSD_LRS"}), "osDisk.type", "is not a valid choice"),
        (with_config(availabilityZones=["westeurope-1"]), "availabilityZones", "is not an availability zone"),
        (with_config(availabilityZones=["1", "1"]), "availabilityZones", "repeats zone '1'"),
        (with_config(vnet={"name": "-vnet"}), "vnet.name", "is not a virtual network name"),
        (with_config(vnet={"cidrBlocks": ["10.0.0.1/8"]}), "vnet.cidrBlocks", "entry 0 is not a CIDR block"),
        (
            with_config(vnet={"cidrBlocks": ["172.16.0.0/12"]}),
            "subnets",
            "controlPlane: CAPZ's default 10.0.0.0/16 is outside vnet.cidrBlocks",
        ),
        (
            with_config(subnets={"controlPlane": {"cidrBlocks": ["10.0.0.0/15"]}}),
            "subnets",
            "overlap: controlPlane 10.0.0.0/15 and node 10.1.0.0/16",
        ),
        (with_config(subnets={"controlPlane": {"name": "same"}, "node": {"name": "same"}}), "subnets", "the same subnet"),
        (with_config(apiEndpoint="internal"), "apiEndpoint", "expected one of: 'private', 'public'"),
        (with_config(apiServerPrivateIp="10.0.0.50"), "apiServerPrivateIp", "only used when apiEndpoint is 'private'"),
        (with_config(apiEndpoint="private", apiServerPrivateIp="10.9.0.5"), "apiServerPrivateIp", "is outside the control-plane subnet"),
        (with_config(apiEndpoint="private", apiServerPrivateIp="10.0.0.2"), "apiServerPrivateIp", "is an address Azure reserves"),
        (
            with_config(apiEndpoint="private", subnets={"controlPlane": {"cidrBlocks": ["10.0.0.0/27"]}}),
            "apiServerPrivateIp",
            "is required",
        ),
        (with_config(additionalTags={"a/b": "x"}), "additionalTags", "has an invalid tag name"),
        (with_config(additionalTags={"sigs.k8s.io_cluster-api-provider-azure_role": "x"}), "additionalTags", "sets a tag CAPZ owns"),
        (with_config(additionalTags={"azure-team": "x"}), "additionalTags", "has a reserved tag name"),
        (with_config(cloudProviderIdentityId="cloud-provider"), "cloudProviderIdentityId", "user-assigned managed identity"),
        (with_config(sshPublicKey="AAAAC3Nza-no-type"), "sshPublicKey", "is not an OpenSSH public key"),
    ],
)
def test_invalid_values_are_reported_at_their_path(host: PluginHost, config: dict, path: str, fragment: str) -> None:
    problems = problems_of(host, config)
    full_path = f"clusters[0].azure.{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


def test_a_private_key_is_rejected_without_being_echoed(host: PluginHost) -> None:
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    message = problems_of(host, with_config(sshPublicKey=private))["clusters[0].azure.sshPublicKey"]
    assert "is a private key" in message
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in message


@pytest.mark.parametrize(
    ("config", "path", "suggestion"),
    [
        ({**BASE_CONFIG, "subscriptionID": SUBSCRIPTION}, "clusters[0].azure", "did you mean 'subscriptionId'?"),
        ({**BASE_CONFIG, "location": "westeurope"}, "clusters[0].azure", "'location'"),
        (
            with_config(identity={**BASE_CONFIG["identity"], "clientID": CLIENT_ID}),
            "clusters[0].azure.identity",
            "did you mean 'clientId'?",
        ),
        (with_config(subnets={"controlplane": {}}), "clusters[0].azure.subnets", "did you mean 'controlPlane'?"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(host: PluginHost, config: dict, path: str, suggestion: str) -> None:
    problems = problems_of(host, config)
    assert path in problems, problems
    assert "unknown key" in problems[path] and suggestion in problems[path]


def test_region_is_required(host: PluginHost) -> None:
    fleet = yaml.safe_load(fleet_text())
    del fleet["clusters"][0]["region"]
    with pytest.raises(FleetError) as caught:
        parse_fleet(yaml.safe_dump(fleet), host)
    # Once: check_cluster does not also call the missing region a bad location name.
    assert [p.path for p in caught.value.problems] == ["clusters[0].region"]


def test_a_minimal_block_is_enough(host: PluginHost) -> None:
    config = parse_fleet(fleet_text(BASE_CONFIG), host).clusters[0].provider_config
    assert config.vm_size == "Standard_D2s_v3"
    assert config.identity.type == "WorkloadIdentity"
    assert config.api_endpoint == "public"
    assert config.os_disk.size_gb == 128


def test_layers_merge_the_azure_block(host: PluginHost) -> None:
    fleet = yaml.safe_load(fleet_text({"vmSize": "Standard_D8s_v5"}))
    fleet["defaults"]["azure"] = BASE_CONFIG
    fleet["environments"] = {"prod": {"azure": {"additionalTags": {"env": "prod"}}}}
    cluster = parse_fleet(yaml.safe_dump(fleet), host).clusters[0]
    config = cluster.provider_config
    assert (config.subscription_id, config.vm_size, config.additional_tags) == (SUBSCRIPTION, "Standard_D8s_v5", {"env": "prod"})


# -- agreement with CAPZ's templates -----------------------------------------------------------

_TEMPLATE_VALUES = {
    "CLUSTER_NAME": "prod-1",
    "CLUSTER_CLASS_NAME": "prod-1",
    "AZURE_LOCATION": "westeurope",
    "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
    "AZURE_TENANT_ID": TENANT_ID,
    "AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY": CLIENT_ID,
    "CLUSTER_IDENTITY_NAME": "prod-1-identity",
    "KUBERNETES_VERSION": "v1.33.1",
    "AZURE_CONTROL_PLANE_MACHINE_TYPE": "Standard_D2s_v3",
    "AZURE_NODE_MACHINE_TYPE": "Standard_D2s_v3",
}


def load_reference(shared_folder: Path, name: str) -> list[dict]:
    return clusterctl_template(shared_folder / "reference" / "templates" / "capz" / name, _TEMPLATE_VALUES)


def _without_secret_names(files: list[dict]) -> list[dict]:
    """Files with the Secret names left out: CAPZ's templates name machine
    templates without a content digest, so only the rest can be equal."""
    stripped = copy.deepcopy(files)
    for item in stripped:
        item.get("contentFrom", {}).get("secret", {}).pop("name", None)
    return stripped


def _capz_kinds(objects: list[dict]) -> set[str]:
    return {o["kind"] for o in objects if o["apiVersion"].startswith("infrastructure.cluster.x-k8s.io/")}


def test_classic_rendering_matches_capz_cluster_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template.yaml")
    config = with_config(cloudProviderIdentityId=USER_IDENTITY)
    ours = render(host, config, workers=[{"name": "md-0", "replicas": 2}])

    assert _capz_kinds(ours) == _capz_kinds(reference)

    # AzureCluster: same keys and the same values for what both set.
    (ref_cluster,), (our_cluster,) = by_kind(reference, "AzureCluster"), by_kind(ours, "AzureCluster")
    assert our_cluster["spec"].keys() == ref_cluster["spec"].keys()
    for key in ("location", "resourceGroup", "subscriptionID", "networkSpec"):
        assert our_cluster["spec"][key] == ref_cluster["spec"][key], key
    for key in ("apiVersion", "kind", "name"):
        assert our_cluster["spec"]["identityRef"][key] == ref_cluster["spec"]["identityRef"][key]

    # Identity: same fields and type; we narrow allowedNamespaces to the cluster's namespace.
    (ref_identity,), (our_identity,) = by_kind(reference, "AzureClusterIdentity"), by_kind(ours, "AzureClusterIdentity")
    assert our_identity["spec"].keys() == ref_identity["spec"].keys()
    for key in ("type", "clientID", "tenantID"):
        assert our_identity["spec"][key] == ref_identity["spec"][key]
    assert our_identity["metadata"]["labels"]["clusterctl.cluster.x-k8s.io/move-hierarchy"] == "true"

    # Machine templates: same disks, size and identity shape.
    ref_cp = next(o for o in by_kind(reference, "AzureMachineTemplate") if o["metadata"]["name"].endswith("-control-plane"))
    ref_cp_spec, our_cp_spec = ref_cp["spec"]["template"]["spec"], machine(ours, "prod-1-control-plane")
    assert our_cp_spec["dataDisks"] == ref_cp_spec["dataDisks"]
    assert our_cp_spec["osDisk"] == ref_cp_spec["osDisk"]
    assert our_cp_spec["vmSize"] == ref_cp_spec["vmSize"]
    assert our_cp_spec["identity"] == ref_cp_spec["identity"]
    (ref_identity_ref,), (our_identity_ref,) = ref_cp_spec["userAssignedIdentities"], our_cp_spec["userAssignedIdentities"]
    pattern = r"^azure:///subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$"
    assert re.match(pattern, ref_identity_ref["providerID"]) and re.match(pattern, our_identity_ref["providerID"])
    ref_worker = one(reference, "AzureMachineTemplate", "prod-1-md-0")["spec"]["template"]["spec"]
    our_worker = machine(ours, "prod-1-md-0")
    assert set(our_worker) == set(ref_worker) - {"sshPublicKey"}  # the template sets an empty key
    assert our_worker["osDisk"] == ref_worker["osDisk"]

    # kubeadm: files, disks, etcd, controller-manager, node registration.
    ref_kcp = by_kind(reference, "KubeadmControlPlane")[0]["spec"]["kubeadmConfigSpec"]
    our_kcp = by_kind(ours, "KubeadmControlPlane")[0]["spec"]["kubeadmConfigSpec"]
    assert secret_of(ref_kcp["files"]) == ref_cp["metadata"]["name"] + "-azure-json"
    assert secret_of(our_kcp["files"]) == machine_template(ours, "prod-1-control-plane")["metadata"]["name"] + "-azure-json"
    assert _without_secret_names(our_kcp["files"]) == _without_secret_names(ref_kcp["files"])
    assert our_kcp["diskSetup"] == ref_kcp["diskSetup"]
    assert our_kcp["mounts"] == ref_kcp["mounts"]
    ref_etcd, our_etcd = ref_kcp["clusterConfiguration"]["etcd"]["local"], our_kcp["clusterConfiguration"]["etcd"]["local"]
    assert our_etcd["dataDir"] == ref_etcd["dataDir"]
    assert extra_args(our_etcd["extraArgs"]) == extra_args(ref_etcd["extraArgs"])
    assert extra_args(our_kcp["clusterConfiguration"]["controllerManager"]["extraArgs"]) == extra_args(
        ref_kcp["clusterConfiguration"]["controllerManager"]["extraArgs"]
    )
    timeout = ref_kcp["clusterConfiguration"]["apiServer"]["timeoutForControlPlane"]
    assert our_kcp["initConfiguration"]["timeouts"]["controlPlaneComponentHealthCheckSeconds"] == int(timeout.rstrip("m")) * 60
    for phase in ("initConfiguration", "joinConfiguration"):
        ref_reg, our_reg = ref_kcp[phase]["nodeRegistration"], our_kcp[phase]["nodeRegistration"]
        assert our_reg["name"] == ref_reg["name"]
        assert extra_args(our_reg["kubeletExtraArgs"]) == extra_args(ref_reg["kubeletExtraArgs"])

    ref_worker_config = one(reference, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    our_worker_config = bootstrap_template(ours, "prod-1-md-0")["spec"]["template"]["spec"]
    assert secret_of(ref_worker_config["files"]) == "prod-1-md-0-azure-json"
    assert secret_of(our_worker_config["files"]) == machine_template(ours, "prod-1-md-0")["metadata"]["name"] + "-azure-json"
    assert _without_secret_names(our_worker_config["files"]) == _without_secret_names(ref_worker_config["files"])
    ref_reg, our_reg = (
        ref_worker_config["joinConfiguration"]["nodeRegistration"],
        our_worker_config["joinConfiguration"]["nodeRegistration"],
    )
    assert our_reg["name"] == ref_reg["name"]
    assert extra_args(our_reg["kubeletExtraArgs"]) == extra_args(ref_reg["kubeletExtraArgs"])


def test_private_rendering_matches_capz_private_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-private.yaml")
    ours = render(host, with_config(apiEndpoint="private", availabilityZones=["1", "2", "3"]))

    ref_network = by_kind(reference, "AzureCluster")[0]["spec"]["networkSpec"]
    our_network = one(ours, "AzureCluster")["spec"]["networkSpec"]
    for key in ("type", "name", "availabilityZones"):
        assert our_network["apiServerLB"][key] == ref_network["apiServerLB"][key], key
    assert our_network["controlPlaneOutboundLB"] == ref_network["controlPlaneOutboundLB"]
    assert our_network["nodeOutboundLB"] == ref_network["nodeOutboundLB"]

    ref_kcp = by_kind(reference, "KubeadmControlPlane")[0]["spec"]["kubeadmConfigSpec"]
    our_kcp = one(ours, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    assert our_kcp["preKubeadmCommands"] == ref_kcp["preKubeadmCommands"]
    assert our_kcp["postKubeadmCommands"] == ref_kcp["postKubeadmCommands"]


def test_clusterclass_rendering_matches_capz_clusterclass_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-clusterclass.yaml")
    ours = render(host, mode="clusterclass")

    assert _capz_kinds(ours) == _capz_kinds(reference)
    ref_template = by_kind(reference, "AzureClusterTemplate")[0]["spec"]["template"]["spec"]
    our_template = one(ours, "AzureClusterTemplate")["spec"]["template"]["spec"]
    assert set(our_template) == set(ref_template)
    assert [(s["name"], s["role"]) for s in our_template["networkSpec"]["subnets"]] == [
        (s["name"], s["role"]) for s in ref_template["networkSpec"]["subnets"]
    ]

    # The same builtin variables name the azure.json Secrets.
    def secret_name_templates(cluster_class: dict) -> set[str]:
        found = set()
        for patch in cluster_class["spec"].get("patches", []):
            for definition in patch["definitions"]:
                for op in definition["jsonPatches"]:
                    found.update(re.findall(r"\{\{ *\.builtin\.[\w.]+ *\}\}-azure-json", op.get("valueFrom", {}).get("template", "")))
        return found

    expected = secret_name_templates(by_kind(reference, "ClusterClass")[0])
    assert len(expected) == 2
    assert secret_name_templates(one(ours, "ClusterClass")) == expected

    ref_kcp = by_kind(reference, "KubeadmControlPlaneTemplate")[0]["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    our_kcp = one(ours, "KubeadmControlPlaneTemplate")["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    assert our_kcp["diskSetup"] == ref_kcp["diskSetup"]
    assert our_kcp["mounts"] == ref_kcp["mounts"]
    assert [f["contentFrom"]["secret"]["key"] for f in our_kcp["files"]] == [f["contentFrom"]["secret"]["key"] for f in ref_kcp["files"]]


# -- AKS (flavor: aks) ---------------------------------------------------------------------------

AKS_WORKERS: list[dict[str, Any]] = [
    {"name": "system", "replicas": 2},
    {
        "name": "batch",
        "minReplicas": 1,
        "maxReplicas": 5,
        "labels": {"workload": "batch"},
        "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
    },
]
KUBELET_IDENTITY = USER_IDENTITY.replace("cloud-provider", "kubelet")


def render_aks(host: PluginHost, config: dict | None = None, infra: InfraResult | None = None, **cluster: Any) -> list[dict]:
    return render(host, config, infra, flavor="aks", **{"workers": AKS_WORKERS, **cluster})


def test_aks_classic_renders_a_managed_control_plane_and_agent_pools(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render_aks(host)

    assert crd_schemas.validate_all(objects) == []
    assert {o["kind"] for o in objects} == {
        "AzureClusterIdentity",
        "AzureManagedCluster",
        "AzureManagedControlPlane",
        "AzureManagedMachinePool",
        "MachinePool",
        "Cluster",
    }
    # The AKS cluster in Azure is named after the fleet's cluster.
    control_plane = one(objects, "AzureManagedControlPlane", "prod-1")
    assert control_plane["spec"] == {
        "location": "westeurope",
        "subscriptionID": SUBSCRIPTION,
        "resourceGroupName": "prod-1",
        "identityRef": {"apiVersion": CAPZ, "kind": "AzureClusterIdentity", "name": "prod-1-identity", "namespace": "prod"},
        "virtualNetwork": {"name": "prod-1-vnet", "cidrBlock": "10.0.0.0/8", "subnet": {"name": "node-subnet", "cidrBlock": "10.1.0.0/16"}},
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "sku": {"tier": "Free"},
        "oidcIssuerProfile": {"enabled": True},
        "securityProfile": {"workloadIdentity": {"enabled": True}},
        "version": "v1.33.1",
    }
    assert one(objects, "AzureManagedCluster", "prod-1")["spec"] == {}
    cluster_spec = one(objects, "Cluster")["spec"]
    assert cluster_spec["controlPlaneRef"] == {
        "apiGroup": "infrastructure.cluster.x-k8s.io",
        "kind": "AzureManagedControlPlane",
        "name": "prod-1",
    }
    assert cluster_spec["infrastructureRef"] == {
        "apiGroup": "infrastructure.cluster.x-k8s.io",
        "kind": "AzureManagedCluster",
        "name": "prod-1",
    }

    # One agent pool per worker pool; the first is AKS's System pool.
    assert one(objects, "AzureManagedMachinePool", "prod-1-system")["spec"] == {
        "mode": "System",
        "name": "system",
        "sku": "Standard_D2s_v3",
        "osDiskSizeGB": 128,
    }
    assert one(objects, "AzureManagedMachinePool", "prod-1-batch")["spec"] == {
        "mode": "User",
        "name": "batch",
        "sku": "Standard_D2s_v3",
        "osDiskSizeGB": 128,
        "scaling": {"minSize": 1, "maxSize": 5},
        "nodeLabels": {"workload": "batch"},
        "taints": [{"effect": "NoSchedule", "key": "dedicated", "value": "batch"}],
    }
    fixed = one(objects, "MachinePool", "prod-1-system")
    assert fixed["spec"]["replicas"] == 2
    assert fixed["spec"]["template"]["spec"] == {
        "clusterName": "prod-1",
        "version": "v1.33.1",
        "bootstrap": {"dataSecretName": ""},
        "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "AzureManagedMachinePool", "name": "prod-1-system"},
    }
    # Autoscaled: no replicas to fight AKS's autoscaler over; CAPI sizes the new pool from the bounds.
    scaled = one(objects, "MachinePool", "prod-1-batch")
    assert "replicas" not in scaled["spec"]
    assert scaled["metadata"]["annotations"] == {
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "1",
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "5",
    }


def test_aks_settings_reach_the_managed_control_plane(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    aks = {
        "skuTier": "Standard",
        "networkPolicy": "cilium",
        "networkDataplane": "cilium",
        "outboundType": "managedNATGateway",
        "authorizedIpRanges": ["203.0.113.0/24"],
        "workloadIdentity": False,
        "identityId": USER_IDENTITY,
        "kubeletIdentityId": KUBELET_IDENTITY,
    }
    objects = render_aks(host, with_config(aks=aks, additionalTags={"team": "platform"}, sshPublicKey=SSH_KEY))
    assert crd_schemas.validate_all(objects) == []
    spec = one(objects, "AzureManagedControlPlane")["spec"]
    assert (spec["sku"], spec["networkPolicy"], spec["networkDataplane"], spec["outboundType"]) == (
        {"tier": "Standard"},
        "cilium",
        "cilium",
        "managedNATGateway",
    )
    assert spec["apiServerAccessProfile"] == {"authorizedIPRanges": ["203.0.113.0/24"]}
    assert spec["identity"] == {"type": "UserAssigned", "userAssignedIdentityResourceID": USER_IDENTITY}
    assert spec["kubeletUserAssignedIdentity"] == KUBELET_IDENTITY
    assert "securityProfile" not in spec and spec["oidcIssuerProfile"] == {"enabled": True}
    assert spec["additionalTags"] == {"team": "platform"}
    assert base64.b64decode(spec["sshPublicKey"]).decode() == SSH_KEY
    for pool in by_kind(objects, "AzureManagedMachinePool"):
        assert pool["spec"]["additionalTags"] == {"team": "platform"}

    private = one(render_aks(host, with_config(apiEndpoint="private")), "AzureManagedControlPlane")["spec"]
    assert private["apiServerAccessProfile"] == {"enablePrivateCluster": True}
    # Overlay is the azure plugin's mode; null gives pods node-subnet addresses; kubenet has no mode.
    node_subnet = one(render_aks(host, with_config(aks={"networkPluginMode": None})), "AzureManagedControlPlane")["spec"]
    assert node_subnet["networkPlugin"] == "azure" and "networkPluginMode" not in node_subnet
    kubenet = one(render_aks(host, with_config(aks={"networkPlugin": "kubenet"})), "AzureManagedControlPlane")["spec"]
    assert kubenet["networkPlugin"] == "kubenet" and "networkPluginMode" not in kubenet


def test_aks_pools_take_sizes_zones_and_modes(host: PluginHost) -> None:
    config = with_config(
        vmSize="Standard_D4s_v5",
        availabilityZones=["1", "2"],
        osDisk={"sizeGb": 256, "type": "Premium_LRS"},  # the storage type is a VM's setting: AKS ignores it
        aks={"systemPools": ["batch", "infra"], "maxPods": 60, "osDiskType": "Ephemeral"},
    )
    workers = [
        {"name": "general", "replicas": 3, "machineSize": "Standard_E8s_v5"},
        {"name": "batch", "replicas": 2, "failureDomain": "2"},
        {"name": "infra", "replicas": 1},
    ]
    pools = {o["spec"]["name"]: o["spec"] for o in by_kind(render_aks(host, config, workers=workers), "AzureManagedMachinePool")}
    assert {name: spec["mode"] for name, spec in pools.items()} == {"general": "User", "batch": "System", "infra": "System"}
    assert {name: spec["sku"] for name, spec in pools.items()} == {
        "general": "Standard_E8s_v5",
        "batch": "Standard_D4s_v5",
        "infra": "Standard_D4s_v5",
    }
    assert {name: spec["availabilityZones"] for name, spec in pools.items()} == {"general": ["1", "2"], "batch": ["2"], "infra": ["1", "2"]}
    for spec in pools.values():
        assert (spec["maxPods"], spec["osDiskType"], spec["osDiskSizeGB"]) == (60, "Ephemeral", 256)
        assert "managedDisk" not in spec and "Premium_LRS" not in str(spec)


def test_aks_network_comes_from_the_block_then_prepare(host: PluginHost) -> None:
    config = with_config(
        resourceGroup="rg-prod",
        vnet={"name": "shared-vnet", "resourceGroup": "rg-network", "cidrBlocks": ["10.8.0.0/16"]},
        subnets={"node": {"name": "aks-nodes", "cidrBlocks": ["10.8.0.0/20"]}},
    )
    spec = one(render_aks(host, config), "AzureManagedControlPlane")["spec"]
    assert spec["resourceGroupName"] == "rg-prod"
    assert spec["virtualNetwork"] == {
        "name": "shared-vnet",
        "cidrBlock": "10.8.0.0/16",
        "resourceGroup": "rg-network",
        "subnet": {"name": "aks-nodes", "cidrBlock": "10.8.0.0/20"},
    }

    # What prepare made or found wins: the node subnet by its role, else by the block's name, else the only one.
    other_sub = "11111111-2222-4333-8444-555555555555"
    subnets = [
        {"name": "env-cp", "id": "/subscriptions/x/.../env-cp", "cidr": "10.30.0.0/24", "role": "control-plane"},
        {"name": "env-nodes", "id": "/subscriptions/x/.../env-nodes", "cidr": "10.30.16.0/20", "role": "node"},
    ]
    outputs = {
        "subscription_id": other_sub,
        "resource_group": "rg-from-prepare",
        "vnet_name": "env-vnet",
        "vnet_resource_group": "rg-env-network",
        "subnets": subnets,
    }
    prepared = one(render_aks(host, config, infra=InfraResult(outputs=outputs)), "AzureManagedControlPlane")["spec"]
    assert (prepared["subscriptionID"], prepared["resourceGroupName"]) == (other_sub, "rg-from-prepare")
    assert prepared["virtualNetwork"]["name"] == "env-vnet"
    assert prepared["virtualNetwork"]["resourceGroup"] == "rg-env-network"
    assert prepared["virtualNetwork"]["subnet"] == {"name": "env-nodes", "cidrBlock": "10.30.16.0/20"}

    by_name = [{"name": "cp", "cidr": "10.30.0.0/24"}, {"name": "aks-nodes", "cidr": "10.30.32.0/20"}]
    named = one(render_aks(host, config, infra=InfraResult(outputs={"subnets": by_name})), "AzureManagedControlPlane")["spec"]
    assert named["virtualNetwork"]["subnet"] == {"name": "aks-nodes", "cidrBlock": "10.30.32.0/20"}
    only = one(
        render_aks(host, infra=InfraResult(outputs={"subnets": [{"name": "nodes", "cidr": "10.5.0.0/16"}]})), "AzureManagedControlPlane"
    )
    assert only["spec"]["virtualNetwork"]["subnet"] == {"name": "nodes", "cidrBlock": "10.5.0.0/16"}


@pytest.mark.parametrize("flavor", ["kubeadm", "aks"])
def test_offline_render_names_what_prepare_makes(host: PluginHost, flavor: str) -> None:
    """Without a prepare, render points at the resource group and the shared vnet
    prepare would make (dokaseca_azure.names), so the two always agree."""
    config = with_config(resourceGroupScope="environment", network={"create": True})
    objects = render(host, config, flavor=flavor, workers=AKS_WORKERS)
    if flavor == "aks":
        spec = one(objects, "AzureManagedControlPlane")["spec"]
        assert spec["resourceGroupName"] == "acme-prod"
        assert (spec["virtualNetwork"]["name"], spec["virtualNetwork"].get("resourceGroup")) == ("acme-prod", None)
    else:
        spec = one(objects, "AzureCluster")["spec"]
        assert spec["resourceGroup"] == "acme-prod"
        assert spec["networkSpec"]["vnet"] == {"name": "acme-prod"}  # in the cluster's group: CAPZ's default

    # The shared vnet lives in its own group when the clusters keep theirs.
    own_group = render(host, with_config(network={"create": True}), flavor=flavor, workers=AKS_WORKERS)
    if flavor == "aks":
        assert one(own_group, "AzureManagedControlPlane")["spec"]["virtualNetwork"]["resourceGroup"] == "acme-prod"
    else:
        assert one(own_group, "AzureCluster")["spec"]["networkSpec"]["vnet"] == {"name": "acme-prod", "resourceGroup": "acme-prod"}


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_aks_identity_secret_is_referenced_never_rendered(host: PluginHost, mode: str) -> None:
    identity = {"type": "ServicePrincipal", "clientId": CLIENT_ID, "tenantId": TENANT_ID, "secretName": "prod-sp"}
    objects = render_aks(host, with_config(identity=identity), mode=mode)
    assert one(objects, "AzureClusterIdentity")["spec"]["clientSecret"] == {"name": "prod-sp", "namespace": "prod"}
    assert not by_kind(objects, "Secret")


def test_aks_clusterclass_renders_templates_and_machine_pool_classes(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(availabilityZones=["1", "2"], sshPublicKey=SSH_KEY)
    workers = [*AKS_WORKERS, {"name": "zonal", "replicas": 1, "failureDomain": "2"}]
    topology = render_aks(host, config, mode="clusterclass", workers=workers)
    classic = render_aks(host, config, workers=workers)

    assert crd_schemas.validate_all(topology) == []
    assert not by_kind(topology, "AzureManagedControlPlane") and not by_kind(topology, "MachinePool")
    assert not by_kind(topology, "MachineDeployment") and not by_kind(topology, "MachineHealthCheck")

    # Each template holds what the classic object does (a template has no SSH key field).
    cp_template = content_named(topology, "AzureManagedControlPlaneTemplate", "prod-1-control-plane")
    classic_cp = dict(one(classic, "AzureManagedControlPlane")["spec"])
    del classic_cp["sshPublicKey"]
    assert cp_template["spec"]["template"]["spec"] == classic_cp
    infra_template = content_named(topology, "AzureManagedClusterTemplate", "prod-1")
    assert infra_template["spec"] == {"template": {"spec": {}}}
    for pool in ("system", "batch", "zonal"):
        pool_template = content_named(topology, "AzureManagedMachinePoolTemplate", f"prod-1-{pool}")
        assert pool_template["spec"]["template"]["spec"] == one(classic, "AzureManagedMachinePool", f"prod-1-{pool}")["spec"]
        assert content_named(topology, "KubeadmConfigTemplate", f"prod-1-{pool}")["spec"] == {
            "template": {"spec": {"format": "cloud-config"}}
        }

    # MachinePool classes, not MachineDeployment ones, and the AKS cluster keeps the Cluster's name.
    class_spec = one(topology, "ClusterClass", "prod-1")["spec"]
    assert class_spec["infrastructure"]["templateRef"]["name"] == infra_template["metadata"]["name"]
    assert class_spec["controlPlane"] == {
        "templateRef": {"apiVersion": CAPZ, "kind": "AzureManagedControlPlaneTemplate", "name": cp_template["metadata"]["name"]},
        "naming": {"template": "{{ .cluster.name }}"},
    }
    assert list(class_spec["workers"]) == ["machinePools"]
    batch_class = class_spec["workers"]["machinePools"][1]
    assert batch_class == {
        "class": "batch",
        "bootstrap": {
            "templateRef": {
                "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta2",
                "kind": "KubeadmConfigTemplate",
                "name": content_named(topology, "KubeadmConfigTemplate", "prod-1-batch")["metadata"]["name"],
            }
        },
        "infrastructure": {
            "templateRef": {
                "apiVersion": CAPZ,
                "kind": "AzureManagedMachinePoolTemplate",
                "name": content_named(topology, "AzureManagedMachinePoolTemplate", "prod-1-batch")["metadata"]["name"],
            }
        },
    }
    cluster_topology = one(topology, "Cluster")["spec"]["topology"]
    assert "controlPlane" not in cluster_topology  # nothing to count
    assert cluster_topology["workers"] == {
        "machinePools": [
            {"class": "system", "name": "system", "replicas": 2},
            {
                "class": "batch",
                "name": "batch",
                "metadata": {
                    "annotations": {
                        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "1",
                        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "5",
                    }
                },
            },
            # The zone is in the agent pool template.
            {"class": "zonal", "name": "zonal", "replicas": 1},
        ]
    }


def test_aks_a_changed_pool_gets_a_new_template_and_the_others_keep_theirs(host: PluginHost) -> None:
    def names(objects: list[dict]) -> dict[str, str]:
        return {o["spec"]["template"]["spec"]["name"]: o["metadata"]["name"] for o in by_kind(objects, "AzureManagedMachinePoolTemplate")}

    before = names(render_aks(host, mode="clusterclass"))
    workers = [AKS_WORKERS[0], {**AKS_WORKERS[1], "machineSize": "Standard_F8s_v2"}]
    after = names(render_aks(host, mode="clusterclass", workers=workers))
    assert after["system"] == before["system"]
    assert after["batch"] != before["batch"]


def test_aks_and_kubeadm_settings_stay_with_their_flavor(host: PluginHost) -> None:
    # One block for both flavors, as a fleet's defaults would hold it: on a kubeadm cluster
    # the aks: block is neither rendered nor checked (a pool name or size AKS refuses is fine).
    config = with_config(
        apiEndpoint="private",
        apiServerPrivateIp="10.0.0.50",
        cloudProviderIdentityId=USER_IDENTITY,
        aks={"systemPools": ["not-a-pool"], "skuTier": "Standard", "maxPods": 12, "kubeletIdentityId": KUBELET_IDENTITY},
    )
    kubeadm = render(host, config, workers=[{"name": "general-pool", "replicas": 0}])
    assert not [o for o in kubeadm if o["kind"].startswith("AzureManaged")]
    assert "tier:" not in dump_all(kubeadm) and "kubelet" not in dump_all(kubeadm).replace("kubeletExtraArgs", "")
    aks = render_aks(host, with_config(apiEndpoint="private", apiServerPrivateIp="10.0.0.50", cloudProviderIdentityId=USER_IDENTITY))
    assert "10.0.0.50" not in dump_all(aks) and "cloud-provider" not in dump_all(aks)


@pytest.mark.parametrize(
    ("config", "cluster", "path", "fragment"),
    [
        (
            with_config(aks={"systemPools": ["gpu"]}),
            {},
            "azure.aks.systemPools[0]",
            "is not a worker pool of this cluster (got 'gpu'); name one of system, batch",
        ),
        (BASE_CONFIG, {"workers": []}, "workers", "AKS needs at least one pool"),
        (
            BASE_CONFIG,
            {"workers": [{"name": "general-purpose", "replicas": 1}]},
            "workers.general-purpose.name",
            "is not an AKS agent pool name",
        ),
        (BASE_CONFIG, {"workers": [{"name": "system", "replicas": 0}]}, "workers.system.replicas", "must be at least 1 on a System pool"),
        (
            with_config(aks={"systemPools": ["system", "spot"]}),
            {"workers": [{"name": "system", "replicas": 1}, {"name": "spot", "minReplicas": 0, "maxReplicas": 3}]},
            "workers.spot.minReplicas",
            "must be at least 1 on a System pool",
        ),
        (BASE_CONFIG, {"workers": [{"name": "system", "minReplicas": 1, "maxReplicas": 1001}]}, "workers.system.maxReplicas", "1000 nodes"),
        (
            BASE_CONFIG,
            {"workers": [{"name": "system", "replicas": 1, "labels": {"kubernetes.azure.com/mode": "user"}}]},
            "workers.system.labels",
            "AKS keeps labels under kubernetes.azure.com/",
        ),
        (with_config(aks={"maxPods": 20}), {}, "azure.aks.maxPods", "below the 30 pods per node AKS wants on System pools (system)"),
        (
            with_config(apiEndpoint="private", aks={"authorizedIpRanges": ["203.0.113.0/24"]}),
            {},
            "azure.aks.authorizedIpRanges",
            "private API server",
        ),
        (with_config(aks={"kubeletIdentityId": KUBELET_IDENTITY}), {}, "azure.aks.kubeletIdentityId", "needs azure.aks.identityId"),
        (with_config(aks={"networkDataplane": "cilium", "networkPolicy": "calico"}), {}, "azure.aks.networkPolicy", "must be 'cilium'"),
        (with_config(osDisk={"sizeGb": 4000}), {}, "azure.osDisk.sizeGb", "larger than AKS allows (2048 GiB)"),
        (with_config(vnet={"cidrBlocks": ["10.0.0.0/16", "10.1.0.0/16"]}), {}, "azure.vnet.cidrBlocks", "more than one range"),
        (BASE_CONFIG, {"name": "windows-prod"}, "name", "cannot name an AKS cluster"),
        (BASE_CONFIG, {"network": {"services": ["10.96.0.0/16", "10.97.0.0/16"]}}, "network.services", "AKS takes one"),
        (BASE_CONFIG, {"network": {"pods": ["172.31.0.0/16"]}}, "network.pods", "overlaps 172.31.0.0/16, which AKS keeps for itself"),
        (
            with_config(
                vnet={"cidrBlocks": ["172.16.0.0/12"]},
                subnets={"controlPlane": {"cidrBlocks": ["172.16.0.0/16"]}, "node": {"cidrBlocks": ["172.17.0.0/16"]}},
            ),
            {},
            "azure.vnet.cidrBlocks",
            "172.31.0.0/16",
        ),
        (
            BASE_CONFIG,
            {"network": {"services": ["10.1.0.0/16"], "pods": ["192.168.0.0/16"]}},
            "network.services",
            "overlaps the node subnet 10.1.0.0/16",
        ),
        (with_config(aks={"skuTier": "Premium"}), {}, "azure.aks.skuTier", "is not a valid choice"),
        (with_config(aks={"maxPods": 300}), {}, "azure.aks.maxPods", "must be between 10 and 250"),
        (with_config(aks={"authorizedIpRanges": ["203.0.113.7"]}), {}, "azure.aks.authorizedIpRanges", "entry 0 is not a CIDR block"),
        (with_config(aks={"identityId": "my-identity"}), {}, "azure.aks.identityId", "user-assigned managed identity"),
    ],
)
def test_aks_problems_are_reported_at_their_path(host: PluginHost, config: dict, cluster: dict, path: str, fragment: str) -> None:
    problems = problems_of(host, config, flavor="aks", **{"workers": AKS_WORKERS, **cluster})
    full_path = f"clusters[0].{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


def test_every_aks_problem_is_reported_at_once(host: PluginHost) -> None:
    problems = problems_of(
        host,
        with_config(aks={"systemPools": ["gpu", "batch"], "maxPods": 20}),
        flavor="aks",
        workers=[{"name": "general-pool", "replicas": 1}, {"name": "batch", "minReplicas": 0, "maxReplicas": 2000}],
        network={"pods": ["172.30.0.0/16"]},
    )
    assert sorted(problems) == [
        "clusters[0].azure.aks.maxPods",
        "clusters[0].azure.aks.systemPools[0]",
        "clusters[0].network.pods",
        "clusters[0].workers.batch.maxReplicas",
        "clusters[0].workers.batch.minReplicas",
        "clusters[0].workers.general-pool.name",
    ]


@pytest.mark.parametrize(
    ("config", "cluster"),
    [
        (BASE_CONFIG, {}),
        # A user pool may scale to zero; only System pools need a node.
        (BASE_CONFIG, {"workers": [{"name": "system", "replicas": 1}, {"name": "spot", "minReplicas": 0, "maxReplicas": 3}]}),
        (with_config(aks={"systemPools": ["system", "batch"], "maxPods": 30}), {}),
        (with_config(apiEndpoint="private"), {}),
        (with_config(aks={"networkDataplane": "cilium", "networkPolicy": "cilium"}), {}),
        (with_config(aks={"identityId": USER_IDENTITY, "kubeletIdentityId": KUBELET_IDENTITY}), {}),
    ],
)
def test_valid_aks_settings_raise_no_problem(host: PluginHost, config: dict, cluster: dict) -> None:
    fleet = fleet_text(config, flavor="aks", **{"workers": AKS_WORKERS, **cluster})
    cluster_spec = parse_fleet(fleet, host).clusters[0]
    assert dokaseca_azure.plugin.check_cluster(cluster=cluster_spec, provider=host.providers["azure"]) == []


def test_aks_rendering_matches_capz_aks_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-aks.yaml")
    ours = render_aks(host, workers=[{"name": "pool0", "replicas": 2}, {"name": "pool1", "replicas": 2}])

    assert {o["kind"] for o in ours} == {o["kind"] for o in reference}
    assert sorted((o["kind"], o["metadata"]["name"]) for o in ours) == sorted((o["kind"], o["metadata"]["name"]) for o in reference)

    # The managed control plane: what both set is the same.
    (ref_cp,), (our_cp,) = by_kind(reference, "AzureManagedControlPlane"), by_kind(ours, "AzureManagedControlPlane")
    for key in ("location", "resourceGroupName", "subscriptionID", "version", "oidcIssuerProfile"):
        assert our_cp["spec"][key] == ref_cp["spec"][key], key
    for key in ("apiVersion", "kind", "name"):
        assert our_cp["spec"]["identityRef"][key] == ref_cp["spec"]["identityRef"][key]
    # Deliberate: no generated SSH key (nobody would hold its private half), and the
    # network settings CAPZ would default are written out.
    assert ref_cp["spec"]["sshPublicKey"] == "" and "sshPublicKey" not in our_cp["spec"]
    assert set(our_cp["spec"]) - set(ref_cp["spec"]) == {"virtualNetwork", "networkPlugin", "networkPluginMode", "sku", "securityProfile"}

    # Agent pools: same modes, AKS names and sizes; we also write the OS disk size CAPZ's templates leave to AKS.
    for name in ("prod-1-pool0", "prod-1-pool1"):
        ref_pool, our_pool = one(reference, "AzureManagedMachinePool", name)["spec"], one(ours, "AzureManagedMachinePool", name)["spec"]
        assert {k: our_pool[k] for k in ref_pool} == ref_pool
        assert set(our_pool) - set(ref_pool) == {"osDiskSizeGB"}
        ref_mp, our_mp = one(reference, "MachinePool", name)["spec"], one(ours, "MachinePool", name)["spec"]
        assert (our_mp["clusterName"], our_mp["replicas"]) == (ref_mp["clusterName"], int(ref_mp["replicas"]))
        ref_template, our_template = ref_mp["template"]["spec"], our_mp["template"]["spec"]
        assert our_template["bootstrap"] == ref_template["bootstrap"]
        assert (our_template["clusterName"], our_template["version"]) == (ref_template["clusterName"], ref_template["version"])
        # CAPI v1beta2 references name the API group, not a version.
        assert our_template["infrastructureRef"]["kind"] == ref_template["infrastructureRef"]["kind"]
        assert our_template["infrastructureRef"]["name"] == ref_template["infrastructureRef"]["name"]
        assert ref_template["infrastructureRef"]["apiVersion"].startswith(our_template["infrastructureRef"]["apiGroup"] + "/")

    ref_cluster, our_cluster = by_kind(reference, "Cluster")[0]["spec"], one(ours, "Cluster")["spec"]
    for ref_key in ("controlPlaneRef", "infrastructureRef"):
        assert (our_cluster[ref_key]["kind"], our_cluster[ref_key]["name"]) == (ref_cluster[ref_key]["kind"], ref_cluster[ref_key]["name"])

    # Identity: as for kubeadm clusters, allowed in the cluster's namespace only.
    ref_identity, our_identity = by_kind(reference, "AzureClusterIdentity")[0]["spec"], one(ours, "AzureClusterIdentity")["spec"]
    assert {k: our_identity[k] for k in ("type", "clientID", "tenantID")} == {k: ref_identity[k] for k in ("type", "clientID", "tenantID")}
    assert ref_identity["allowedNamespaces"] == {} and our_identity["allowedNamespaces"] == {"list": ["prod"]}


def test_aks_clusterclass_matches_capz_aks_clusterclass(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-aks-clusterclass.yaml")
    reference_topology = load_reference(shared_folder, "cluster-template-aks-topology.yaml")
    ours = render_aks(host, mode="clusterclass", workers=[{"name": "pool0", "replicas": 1}, {"name": "pool1", "replicas": 1}])

    assert {o["kind"] for o in ours} == {o["kind"] for o in reference + reference_topology}
    ref_class, our_class = by_kind(reference, "ClusterClass")[0]["spec"], one(ours, "ClusterClass")["spec"]
    # v1beta1 `ref` became v1beta2 `templateRef`; the kinds are the same.
    assert our_class["controlPlane"]["templateRef"]["kind"] == ref_class["controlPlane"]["ref"]["kind"]
    assert our_class["infrastructure"]["templateRef"]["kind"] == ref_class["infrastructure"]["ref"]["kind"]
    ref_pools, our_pools = ref_class["workers"]["machinePools"], our_class["workers"]["machinePools"]
    assert [(c["bootstrap"]["templateRef"]["kind"], c["infrastructure"]["templateRef"]["kind"]) for c in our_pools] == [
        (c["template"]["bootstrap"]["ref"]["kind"], c["template"]["infrastructure"]["ref"]["kind"]) for c in ref_pools
    ]
    # Deliberate: one class per pool, named after it (the reference's default-system / default-worker).
    assert [c["class"] for c in ref_pools] == ["default-system", "default-worker"]
    assert [c["class"] for c in our_pools] == ["pool0", "pool1"]

    # Templates: what the reference sets, we set alike (the template's version is replaced by the topology's).
    ref_cp = by_kind(reference, "AzureManagedControlPlaneTemplate")[0]["spec"]["template"]["spec"]
    our_cp = one(ours, "AzureManagedControlPlaneTemplate")["spec"]["template"]["spec"]
    for key in ("location", "subscriptionID", "version"):
        assert our_cp[key] == ref_cp[key], key
    assert our_cp["identityRef"]["name"] == ref_cp["identityRef"]["name"]
    assert by_kind(reference, "AzureManagedClusterTemplate")[0]["spec"] == one(ours, "AzureManagedClusterTemplate")["spec"]
    ref_pool_specs = [t["spec"]["template"]["spec"] for t in by_kind(reference, "AzureManagedMachinePoolTemplate")]
    our_pool_specs = [t["spec"]["template"]["spec"] for t in by_kind(ours, "AzureManagedMachinePoolTemplate")]
    assert [{k: ours_[k] for k in ref_} for ref_, ours_ in zip(ref_pool_specs, our_pool_specs, strict=True)] == ref_pool_specs

    # The topology: MachinePool workers with replicas, as the reference's.
    ref_workers = by_kind(reference_topology, "Cluster")[0]["spec"]["topology"]["workers"]["machinePools"]
    our_workers = one(ours, "Cluster")["spec"]["topology"]["workers"]["machinePools"]
    assert [w["replicas"] for w in our_workers] == [w["replicas"] for w in ref_workers]
