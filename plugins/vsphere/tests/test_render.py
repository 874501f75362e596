"""Rendering of vSphere clusters: content, CRD validity, config errors, and
agreement with CAPV's own cluster templates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

import attrs
import pytest
import yaml

from dokaseca.config import parse_fleet
from dokaseca.crds import CRDSchemas
from dokaseca.manifests import dump_all
from dokaseca.models import InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.testing import OneClusterFleet, by_kind, clusterctl_template, content_named, fleet_problems, node_registrations, one

import dokaseca_vsphere.plugin

VIP = "10.20.0.10"
SERVER = "vcenter.example.com"
SHA1_THUMBPRINT = "5D:01:06:63:55:9D:DF:FE:38:81:6E:2C:FA:71:BC:63:82:C5:41:51"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com"
CAPV_GROUP = "infrastructure.cluster.x-k8s.io"

BASE_CONFIG: dict[str, Any] = {
    "server": SERVER,
    "controlPlaneEndpoint": VIP,
    "network": "k8s-nodes",
    "template": "ubuntu-2404-kube-v1.33.1",
}


# -- helpers ----------------------------------------------------------------------


FLEET = OneClusterFleet("vsphere", BASE_CONFIG, name="onprem-1")
fleet_text, with_config, render, problems_of = FLEET.text, FLEET.with_config, FLEET.render, FLEET.problems


@pytest.fixture
def host(plugin_host: Callable[..., PluginHost]) -> PluginHost:
    return plugin_host(("vsphere", dokaseca_vsphere.plugin))


def machine_template(objects: list[dict], base: str) -> dict:
    return content_named(objects, "VSphereMachineTemplate", base)


def machine(objects: list[dict], base: str) -> dict:
    return machine_template(objects, base)["spec"]["template"]["spec"]


def kcp_config_spec(objects: list[dict]) -> dict:
    if any(o["kind"] == "KubeadmControlPlaneTemplate" for o in objects):
        return one(objects, "KubeadmControlPlaneTemplate")["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    return one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]


def kubelet_arg(registration: dict, name: str) -> Optional[str]:
    return next((arg["value"] for arg in registration.get("kubeletExtraArgs", []) if arg["name"] == name), None)


def file_at(config_spec: dict, path: str) -> dict:
    return next(f for f in config_spec["files"] if f["path"] == path)


def kube_vip_pod(config_spec: dict) -> dict:
    return yaml.safe_load(file_at(config_spec, "/etc/kubernetes/manifests/kube-vip.yaml")["content"])


def env_of(pod: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


# -- classic and ClusterClass -------------------------------------------------------


def test_classic_cluster_renders_valid_capv_objects(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(host, workers=[{"name": "general", "replicas": 2}, {"name": "storage", "replicas": 3}])

    assert crd_schemas.validate_all(objects) == []
    vsphere_cluster = one(objects, "VSphereCluster", "onprem-1")
    assert vsphere_cluster["apiVersion"] == f"{CAPV_GROUP}/v1beta2"
    assert vsphere_cluster["metadata"]["namespace"] == "prod"
    assert vsphere_cluster["spec"] == {
        "server": SERVER,
        "controlPlaneEndpoint": {"host": VIP, "port": 6443},
        "identityRef": {"kind": "Secret", "name": "onprem-1"},
    }
    cluster = one(objects, "Cluster")
    assert cluster["spec"]["infrastructureRef"] == {"apiGroup": CAPV_GROUP, "kind": "VSphereCluster", "name": "onprem-1"}

    bases = ["onprem-1-control-plane", "onprem-1-general", "onprem-1-storage"]
    templates = {base: machine_template(objects, base) for base in bases}
    assert len(by_kind(objects, "VSphereMachineTemplate")) == 3
    for machine_tpl in templates.values():
        assert machine_tpl["metadata"]["namespace"] == "prod"
        spec = machine_tpl["spec"]["template"]["spec"]
        assert spec["server"] == SERVER
        assert spec["template"] == "ubuntu-2404-kube-v1.33.1"
        assert spec["network"] == {"devices": [{"networkName": "k8s-nodes", "dhcp4": True, "dhcp6": False}]}
        assert spec["cloneMode"] == "fullClone"
        assert (spec["numCPUs"], spec["memoryMiB"], spec["diskGiB"]) == (2, 8192, 25)
        assert spec["os"] == "Linux" and spec["powerOffMode"] == "trySoft"

    kcp = one(objects, "KubeadmControlPlane")
    assert kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"] == {
        "apiGroup": CAPV_GROUP,
        "kind": "VSphereMachineTemplate",
        "name": templates["onprem-1-control-plane"]["metadata"]["name"],
    }
    deployment = one(objects, "MachineDeployment", "onprem-1-storage")
    assert deployment["spec"]["template"]["spec"]["infrastructureRef"]["name"] == templates["onprem-1-storage"]["metadata"]["name"]
    # Only a Secret *reference*: no Secret object, no credential anywhere in the output.
    assert not by_kind(objects, "Secret")
    assert "password" not in dump_all(objects)


def test_clusterclass_mode_renders_a_cluster_template(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    classic = one(render(host), "VSphereCluster")
    objects = render(host, mode="clusterclass")

    assert crd_schemas.validate_all(objects) == []
    assert not by_kind(objects, "VSphereCluster")
    cluster_template = content_named(objects, "VSphereClusterTemplate", "onprem-1")
    assert cluster_template["spec"] == {"template": {"spec": classic["spec"]}}
    assert len(by_kind(objects, "VSphereClusterTemplate")) == 1
    cluster_class = one(objects, "ClusterClass")
    assert cluster_class["spec"]["infrastructure"]["templateRef"] == {
        "apiVersion": f"{CAPV_GROUP}/v1beta2",
        "kind": "VSphereClusterTemplate",
        "name": cluster_template["metadata"]["name"],
    }
    control_plane_ref = cluster_class["spec"]["controlPlane"]["machineInfrastructure"]["templateRef"]
    assert control_plane_ref["name"] == machine_template(objects, "onprem-1-control-plane")["metadata"]["name"]
    (worker_class,) = cluster_class["spec"]["workers"]["machineDeployments"]
    assert worker_class["infrastructure"]["templateRef"] == {
        "apiVersion": f"{CAPV_GROUP}/v1beta2",
        "kind": "VSphereMachineTemplate",
        "name": machine_template(objects, "onprem-1-general")["metadata"]["name"],
    }
    # The kube-vip pod and hostname handling reach the control-plane template too.
    config_spec = kcp_config_spec(objects)
    assert env_of(kube_vip_pod(config_spec))["address"] == VIP
    assert config_spec["initConfiguration"]["nodeRegistration"]["name"] == "{{ local_hostname }}"


def test_render_is_byte_identical_across_runs(host: PluginHost) -> None:
    identity = {"kind": "VSphereClusterIdentity", "name": "vc", "allowedNamespaces": ["prod", "dev"]}
    config = with_config(sizes={"b": {"numCPUs": 4}, "a": {"numCPUs": 8}}, identity=identity)
    assert dump_all(render(host, config)) == dump_all(render(host, config))


# -- machine sizes ------------------------------------------------------------------------


SIZES = {"large": {"numCPUs": 8, "memoryMiB": 32768, "diskGiB": 100}, "wide": {"numCPUs": 16}}


def test_named_sizes_set_the_machine_shape_and_gaps_come_from_the_defaults(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(numCPUs=4, memoryMiB=16384, diskGiB=40, sizes=SIZES)
    objects = render(
        host,
        config,
        controlPlane={"machineSize": "large"},
        workers=[{"name": "general", "replicas": 2}, {"name": "compute", "replicas": 1, "machineSize": "wide"}],
    )
    assert crd_schemas.validate_all(objects) == []

    def shape(name: str) -> tuple[int, int, int]:
        spec = machine(objects, name)
        return spec["numCPUs"], spec["memoryMiB"], spec["diskGiB"]

    assert shape("onprem-1-control-plane") == (8, 32768, 100)
    assert shape("onprem-1-compute") == (16, 16384, 40)  # only numCPUs set by the size
    assert shape("onprem-1-general") == (4, 16384, 40)  # no machineSize: the block's defaults


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"workers": [{"name": "general", "replicas": 2, "machineSize": "huge"}]}, "clusters[0].workers.general.machineSize"),
        ({"controlPlane": {"machineSize": "huge"}}, "clusters[0].controlPlane.machineSize"),
    ],
)
def test_an_unknown_machine_size_is_a_fleet_problem_listing_the_known_sizes(host: PluginHost, kwargs: dict, path: str) -> None:
    problems = fleet_problems(host, fleet_text(with_config(sizes=SIZES), **kwargs))
    assert list(problems) == [path]
    problem = problems[path]
    assert problem.value == "huge"
    assert "vsphere.sizes" in problem.message
    assert "known sizes: 'large', 'wide'" in problem.hint
    assert "did you mean" not in problem.hint  # nothing close to 'huge'


def test_every_unknown_machine_size_is_reported_at_once(host: PluginHost) -> None:
    text = fleet_text(
        with_config(sizes=SIZES),
        controlPlane={"machineSize": "larg"},
        workers=[
            {"name": "general", "replicas": 2, "machineSize": "large"},
            {"name": "batch", "replicas": 1, "machineSize": "wid"},
            {"name": "gpu", "replicas": 1, "machineSize": "gpu-xl"},
        ],
    )
    problems = fleet_problems(host, text)
    assert sorted(problems) == [
        "clusters[0].controlPlane.machineSize",
        "clusters[0].workers.batch.machineSize",
        "clusters[0].workers.gpu.machineSize",
    ]
    assert problems["clusters[0].controlPlane.machineSize"].hint.startswith("did you mean 'large'? known sizes: 'large', 'wide'")
    assert problems["clusters[0].workers.batch.machineSize"].hint.startswith("did you mean 'wide'?")
    assert problems["clusters[0].workers.gpu.machineSize"].value == "gpu-xl"


def test_a_machine_size_without_a_sizes_map_says_none_are_defined(host: PluginHost) -> None:
    problems = fleet_problems(host, fleet_text(workers=[{"name": "general", "replicas": 1, "machineSize": "m5.large"}]))
    problem = problems["clusters[0].workers.general.machineSize"]
    assert problem.value == "m5.large"
    assert "known sizes: none defined" in problem.hint and "vsphere.sizes" in problem.hint
    assert "clusters[0].workers.general.machineSize: is not a size defined under vsphere.sizes (got 'm5.large')" in str(problem)


def test_sizes_from_a_shared_layer_are_checked_against_the_cluster_pools(host: PluginHost) -> None:
    fleet = yaml.safe_load(fleet_text(workers=[{"name": "general", "replicas": 1, "machineSize": "large"}]))
    del fleet["clusters"][0]["vsphere"]
    fleet["defaults"]["vsphere"] = with_config(sizes=SIZES)
    assert parse_fleet(yaml.safe_dump(fleet), host).clusters[0].workers[0].machine_size == "large"
    fleet["clusters"][0]["workers"][0]["machineSize"] = "small"
    assert list(fleet_problems(host, yaml.safe_dump(fleet))) == ["clusters[0].workers.general.machineSize"]


# -- immutable templates -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_changing_a_pool_size_renames_only_that_pool_template(host: PluginHost, mode: str) -> None:
    workers = [{"name": "general", "replicas": 2}, {"name": "compute", "replicas": 1, "machineSize": "large"}]
    bases = ["onprem-1-control-plane", "onprem-1-general", "onprem-1-compute"]
    before = render(host, with_config(sizes=SIZES), mode=mode, workers=workers)
    resized = [workers[0], {**workers[1], "machineSize": "wide"}]
    after = render(host, with_config(sizes=SIZES), mode=mode, workers=resized)

    names_before = {base: machine_template(before, base)["metadata"]["name"] for base in bases}
    names_after = {base: machine_template(after, base)["metadata"]["name"] for base in bases}
    assert names_after["onprem-1-compute"] != names_before["onprem-1-compute"]
    assert machine(after, "onprem-1-compute")["numCPUs"] == 16
    assert {b: names_after[b] for b in bases[:2]} == {b: names_before[b] for b in bases[:2]}
    # What uses the template follows it to the new name.
    if mode == "classic":
        deployment = one(after, "MachineDeployment", "onprem-1-compute")
        assert deployment["spec"]["template"]["spec"]["infrastructureRef"]["name"] == names_after["onprem-1-compute"]
    else:
        refs = [o for o in after if o["kind"] == "ClusterClass"]
        assert names_after["onprem-1-compute"] in dump_all(refs) and names_before["onprem-1-compute"] not in dump_all(refs)
    # The cluster-level object is untouched.
    kind = "VSphereCluster" if mode == "classic" else "VSphereClusterTemplate"
    assert one(after, kind) == one(before, kind)


def test_a_placement_change_renames_every_machine_template(host: PluginHost) -> None:
    before = render(host)
    after = render(host, with_config(datastore="ds2"))
    for base in ("onprem-1-control-plane", "onprem-1-general"):
        assert machine_template(after, base)["metadata"]["name"] != machine_template(before, base)["metadata"]["name"]


# -- credentials ---------------------------------------------------------------------------


def test_a_named_secret_is_referenced_in_the_cluster_namespace(host: PluginHost) -> None:
    objects = render(host, with_config(identity={"name": "onprem-1-vcenter"}))
    assert one(objects, "VSphereCluster")["spec"]["identityRef"] == {"kind": "Secret", "name": "onprem-1-vcenter"}
    assert not [o for o in objects if o["kind"].endswith("Identity")]


def test_a_cluster_identity_is_cluster_scoped_and_references_its_secret(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(host, with_config(identity={"kind": "VSphereClusterIdentity", "name": "vcenter-prod"}))
    assert crd_schemas.validate_all(objects) == []
    identity = one(objects, "VSphereClusterIdentity", "vcenter-prod")
    assert "namespace" not in identity["metadata"]
    assert identity["spec"] == {"secretName": "vcenter-prod", "allowedNamespaces": {"selector": {"matchLabels": {}}}}
    assert one(objects, "VSphereCluster")["spec"]["identityRef"] == {"kind": "VSphereClusterIdentity", "name": "vcenter-prod"}
    # Applied before what uses it.
    assert objects.index(identity) < objects.index(one(objects, "VSphereCluster"))
    assert not by_kind(objects, "Secret")


def test_a_cluster_identity_can_be_limited_to_namespaces(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    identity_config = {
        "kind": "VSphereClusterIdentity",
        "name": "vc",
        "secretName": "vc-creds",
        "allowedNamespaces": ["prod", "dev", "prod"],
    }
    objects = render(host, with_config(identity=identity_config))
    assert crd_schemas.validate_all(objects) == []
    assert one(objects, "VSphereClusterIdentity")["spec"] == {
        "secretName": "vc-creds",
        "allowedNamespaces": {
            "selector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["dev", "prod"]}]}
        },
    }


# -- vCenter connection and placement -------------------------------------------------------


def test_thumbprint_is_rendered_in_upper_case_and_sha256_is_accepted(host: PluginHost) -> None:
    sha256 = ":".join(["ab"] * 32)
    spec = one(render(host, with_config(thumbprint=sha256)), "VSphereCluster")["spec"]
    assert spec["thumbprint"] == sha256.upper()  # govmomi compares its upper-case form byte for byte


def test_a_server_port_is_kept_and_prepare_only_keys_are_never_rendered(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(server="vcenter.example.com:8443", caFile="certs/vcenter-ca.pem", credentialsFile="secrets/vcenter.yaml")
    objects = render(host, config)
    assert crd_schemas.validate_all(objects) == []
    assert one(objects, "VSphereCluster")["spec"]["server"] == "vcenter.example.com:8443"  # CAPV's govmomi takes host:port
    assert machine(objects, "onprem-1-general")["server"] == "vcenter.example.com:8443"
    text = dump_all(objects)
    assert "vcenter-ca.pem" not in text and "secrets/vcenter.yaml" not in text


def test_placement_fields_are_rendered_only_when_set(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    placement = {
        "datacenter": "dc1",
        "datastore": "vsanDatastore",
        "resourcePool": "/dc1/host/cluster1/Resources/k8s",
        "folder": "/dc1/vm/k8s",
        "storagePolicy": "vSAN Default Storage Policy",
        "cloneMode": "linkedClone",
    }
    objects = render(host, with_config(**placement))
    assert crd_schemas.validate_all(objects) == []
    spec = machine(objects, "onprem-1-general")
    assert {k: spec[k] for k in ("datacenter", "datastore", "resourcePool", "folder", "storagePolicyName", "cloneMode")} == {
        **{k: v for k, v in placement.items() if k != "storagePolicy"},
        "storagePolicyName": "vSAN Default Storage Policy",
    }

    bare = machine(render(host), "onprem-1-general")
    assert not {"datacenter", "datastore", "resourcePool", "folder", "storagePolicyName", "thumbprint"} & set(bare)


def test_infra_outputs_take_precedence_over_the_config(host: PluginHost) -> None:
    outputs = {
        "control_plane_endpoint": "10.20.0.99",
        "template": "ubuntu-2404-kube-v1.33.1-20250601",
        "thumbprint": SHA1_THUMBPRINT.lower(),
    }
    objects = render(host, infra=InfraResult(outputs=outputs))
    spec = one(objects, "VSphereCluster")["spec"]
    assert spec["controlPlaneEndpoint"]["host"] == "10.20.0.99"
    assert spec["thumbprint"] == SHA1_THUMBPRINT
    assert machine(objects, "onprem-1-general")["template"] == "ubuntu-2404-kube-v1.33.1-20250601"
    assert env_of(kube_vip_pod(kcp_config_spec(objects)))["address"] == "10.20.0.99"


# -- kubeadm: cloud provider, node names, kube-vip ------------------------------------------


def test_nodes_use_the_external_cloud_provider_and_the_vm_name(host: PluginHost) -> None:
    objects = render(host)
    config_spec = kcp_config_spec(objects)
    assert config_spec["clusterConfiguration"]["controllerManager"]["extraArgs"] == [{"name": "cloud-provider", "value": "external"}]
    worker = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    for registration in node_registrations(objects):
        assert registration["name"] == "{{ local_hostname }}"
        assert kubelet_arg(registration, "cloud-provider") == "external"
    for spec in (config_spec, worker):
        assert spec["preKubeadmCommands"][0] == 'hostnamectl set-hostname "{{ ds.meta_data.hostname }}"'
        assert any("{{ local_hostname }}" in c and ">>/etc/hosts" in c for c in spec["preKubeadmCommands"])


@pytest.mark.parametrize(("vip", "cidr"), [(VIP, "32"), ("fd00:20::10", "128")])
def test_kube_vip_serves_the_api_vip_from_a_static_pod(host: PluginHost, vip: str, cidr: str) -> None:
    objects = render(host, with_config(controlPlaneEndpoint=vip, kubeVipVersion="v0.9.2"))
    assert one(objects, "VSphereCluster")["spec"]["controlPlaneEndpoint"] == {"host": vip, "port": 6443}
    config_spec = kcp_config_spec(objects)
    pod = kube_vip_pod(config_spec)
    assert pod["metadata"] == {"name": "kube-vip", "namespace": "kube-system"}
    assert pod["spec"]["hostNetwork"] is True
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "ghcr.io/kube-vip/kube-vip:v0.9.2"
    assert container["args"] == ["manager"]
    env = env_of(pod)
    assert env["address"] == vip and env["port"] == "6443" and env["vip_cidr"] == cidr
    assert env["vip_arp"] == env["cp_enable"] == env["vip_leaderelection"] == "true"
    assert {"NET_ADMIN", "NET_RAW"} <= set(container["securityContext"]["capabilities"]["add"])
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["spec"]["volumes"]}
    assert volumes == {"kubeconfig": "/etc/kubernetes/admin.conf", "etchosts": "/etc/kube-vip.hosts"}
    assert file_at(config_spec, "/etc/kube-vip.hosts")["content"].split() == ["127.0.0.1", "localhost", "kubernetes"]
    # Workers run no kube-vip.
    assert "files" not in one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]


def test_kube_vip_uses_super_admin_conf_only_while_kubeadm_init_runs(host: PluginHost) -> None:
    objects = render(host)
    config_spec = kcp_config_spec(objects)
    script = file_at(config_spec, "/etc/pre-kubeadm-commands/50-kube-vip-prepare.sh")
    assert script["permissions"] == "0700" and script["content"].startswith("#!/bin/bash\n")
    assert "/run/kubeadm/kubeadm.yaml" in script["content"] and "-ge 29" in script["content"]
    assert "s#path: /etc/kubernetes/admin.conf#path: /etc/kubernetes/super-admin.conf#" in script["content"]
    # Run on control-plane nodes after the hostname setup, never on workers.
    assert config_spec["preKubeadmCommands"][-1] == script["path"]
    worker = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    assert script["path"] not in worker["preKubeadmCommands"]
    # The sed pattern must match exactly one line of the manifest we write: the hostPath.
    manifest = file_at(config_spec, "/etc/kubernetes/manifests/kube-vip.yaml")["content"]
    assert len(re.findall(r"(?m)^\s*path: /etc/kubernetes/admin\.conf$", manifest)) == 1
    assert config_spec["postKubeadmCommands"] == [
        "sed -i 's#path: /etc/kubernetes/super-admin.conf#path: /etc/kubernetes/admin.conf#' /etc/kubernetes/manifests/kube-vip.yaml"
    ]


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_ssh_authorized_keys_become_the_capv_sudo_user(host: PluginHost, mode: str) -> None:
    objects = render(host, with_config(sshAuthorizedKeys=[SSH_KEY]), mode=mode)
    worker = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    for spec in (kcp_config_spec(objects), worker):
        assert spec["users"] == [{"name": "capv", "sshAuthorizedKeys": [SSH_KEY], "sudo": "ALL=(ALL) NOPASSWD:ALL"}]
    assert "users" not in kcp_config_spec(render(host))


# -- config validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path", "fragment"),
    [
        (with_config(controlPlaneEndpoint="api.example.com"), "controlPlaneEndpoint", "is not an IP address"),
        ({k: v for k, v in BASE_CONFIG.items() if k != "controlPlaneEndpoint"}, "controlPlaneEndpoint", "required key is missing"),
        ({k: v for k, v in BASE_CONFIG.items() if k != "server"}, "server", "required key is missing"),
        (with_config(server="https://vcenter.example.com/sdk"), "server", "CAPV adds https:// and /sdk"),
        (with_config(server="vcenter_1.example.com"), "server", "is not a host name or IP address"),
        (with_config(server="vcenter.example.com:99999"), "server", "has a port outside 1-65535"),
        (with_config(server="vcenter.example.com:https"), "server", "has a port that is not a number"),
        (with_config(caFile=" "), "caFile", "give a file path (relative to the fleet file)"),
        (with_config(credentialsFile=""), "credentialsFile", "must not be empty"),
        (with_config(thumbprint="5D0106"), "thumbprint", "is not a colon-separated hex thumbprint"),
        (with_config(thumbprint="5D:01:06"), "thumbprint", "a SHA-1 thumbprint has 20 and a SHA-256 one 32"),
        (with_config(thumbprint=SHA1_THUMBPRINT.replace("5D", "ZZ")), "thumbprint", "is not a colon-separated hex thumbprint"),
        (with_config(cloneMode="linked"), "cloneMode", "did you mean 'linkedClone'?"),
        (with_config(kubeVipVersion="latest"), "kubeVipVersion", "is not a kube-vip release tag"),
        (with_config(numCPUs=1), "numCPUs", "must be at least 2"),
        (with_config(memoryMiB=1024), "memoryMiB", "must be at least 2048"),
        (with_config(memoryMiB=8190), "memoryMiB", "e.g. 8192"),
        (with_config(diskGiB=0), "diskGiB", "must be at least 1"),
        (with_config(datastore=""), "datastore", "must not be empty"),
        (with_config(sizes={"large": {"numCPUs": 1}}), "sizes.large.numCPUs", "must be at least 2"),
        (with_config(sizes={"large": {"memoryMiB": "8Gi"}}), "sizes.large.memoryMiB", "must be a whole number"),
        (with_config(sizes={"Large": {"numCPUs": 4}}), "sizes", "is not a DNS-1123 label"),
        (with_config(sshAuthorizedKeys=["AAAAC3Nza-no-type"]), "sshAuthorizedKeys", "is not an OpenSSH public key"),
        (with_config(identity={"kind": "secret"}), "identity.kind", "did you mean 'Secret'?"),
        (with_config(identity={"kind": "VSphereClusterIdentity"}), "identity.name", "is required when kind is 'VSphereClusterIdentity'"),
        (with_config(identity={"secretName": "vc"}), "identity.secretName", "is only used with kind 'VSphereClusterIdentity'"),
        (with_config(identity={"allowedNamespaces": ["prod"]}), "identity.allowedNamespaces", "is only used with kind"),
        (with_config(identity={"name": "Onprem_1"}), "identity.name", "is not a valid object name"),
    ],
)
def test_invalid_values_are_reported_at_their_path(host: PluginHost, config: dict, path: str, fragment: str) -> None:
    problems = problems_of(host, config)
    full_path = f"clusters[0].vsphere.{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


def test_a_private_key_is_rejected_without_being_echoed(host: PluginHost) -> None:
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    problems = problems_of(host, with_config(sshAuthorizedKeys=[private]))
    message = problems["clusters[0].vsphere.sshAuthorizedKeys"]
    assert "is a private key" in message
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in message


@pytest.mark.parametrize(
    ("config", "path", "suggestion"),
    [
        ({**BASE_CONFIG, "resourcepool": "pool"}, "clusters[0].vsphere", "did you mean 'resourcePool'?"),
        ({**BASE_CONFIG, "controlPlaneEndpont": VIP}, "clusters[0].vsphere", "did you mean 'controlPlaneEndpoint'?"),
        (with_config(sizes={"large": {"numCpus": 4}}), "clusters[0].vsphere.sizes.large", "did you mean 'numCPUs'?"),
        (with_config(identity={"secretname": "x"}), "clusters[0].vsphere.identity", "did you mean 'secretName'?"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(host: PluginHost, config: dict, path: str, suggestion: str) -> None:
    problems = problems_of(host, config)
    assert path in problems, problems
    assert "unknown key" in problems[path] and suggestion in problems[path]


def test_a_minimal_block_is_enough(host: PluginHost) -> None:
    cluster = parse_fleet(fleet_text(BASE_CONFIG), host).clusters[0]
    config = cluster.provider_config
    assert cluster.region is None  # vCenter has no regions
    assert config.identity.kind == "Secret" and config.identity.name is None
    assert (config.num_cpus, config.memory_mib, config.disk_gib) == (2, 8192, 25)
    assert config.clone_mode == "fullClone"
    assert config.kube_vip_version.startswith("v")


# -- agreement with CAPV's templates -------------------------------------------------------

_TEMPLATE_VALUES = {
    "CLUSTER_NAME": "onprem-1",
    "CLUSTER_CLASS_NAME": "onprem-1",
    "NAMESPACE": "prod",
    "KUBERNETES_VERSION": "v1.33.1",
    "CONTROL_PLANE_ENDPOINT_IP": VIP,
    "CONTROL_PLANE_MACHINE_COUNT": "3",
    "WORKER_MACHINE_COUNT": "2",
    "VSPHERE_SERVER": SERVER,
    "VSPHERE_TLS_THUMBPRINT": SHA1_THUMBPRINT,
    "VSPHERE_TEMPLATE": "ubuntu-2404-kube-v1.33.1",
    "VSPHERE_NETWORK": "k8s-nodes",
    "VSPHERE_SSH_AUTHORIZED_KEY": SSH_KEY,
}
REFERENCE_CONFIG = with_config(
    thumbprint=SHA1_THUMBPRINT,
    datacenter="dc1",
    datastore="ds1",
    folder="/dc1/vm/k8s",
    resourcePool="/dc1/host/c1/Resources",
    storagePolicy="gold",
    sshAuthorizedKeys=[SSH_KEY],
)


def load_reference(shared_folder: Path, name: str) -> list[dict]:
    return clusterctl_template(shared_folder / "reference" / "templates" / "capv" / name, _TEMPLATE_VALUES)


def normalised(command: str) -> str:
    return " ".join(command.split())


def test_classic_rendering_matches_capv_cluster_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template.yaml")
    ours = render(host, REFERENCE_CONFIG)

    def provider_kinds(objects: list[dict]) -> set[str]:
        return {o["kind"] for o in objects if o["apiVersion"].startswith(CAPV_GROUP + "/")}

    assert provider_kinds(ours) == provider_kinds(reference) == {"VSphereCluster", "VSphereMachineTemplate"}

    # VSphereCluster: same keys and values (identity: the Secret named after the cluster).
    (ref_cluster,), (our_cluster,) = by_kind(reference, "VSphereCluster"), by_kind(ours, "VSphereCluster")
    assert our_cluster["apiVersion"] == ref_cluster["apiVersion"]
    assert our_cluster["spec"] == {**ref_cluster["spec"], "controlPlaneEndpoint": {"host": VIP, "port": 6443}}
    assert int(ref_cluster["spec"]["controlPlaneEndpoint"]["port"]) == 6443

    # Machine templates: every key of the template's, same defaults except cloneMode (ours: fullClone, see README).
    ref_machine = by_kind(reference, "VSphereMachineTemplate")[0]["spec"]["template"]["spec"]
    for template in by_kind(ours, "VSphereMachineTemplate"):
        spec = template["spec"]["template"]["spec"]
        assert set(spec) == set(ref_machine)
        same = {k for k in ref_machine if k not in {"cloneMode", "datacenter", "datastore", "folder", "resourcePool", "storagePolicyName"}}
        assert {k: spec[k] for k in same} == {k: ref_machine[k] for k in same}
        assert ref_machine["cloneMode"] == "linkedClone" and spec["cloneMode"] == "fullClone"

    # kubeadm: cloud provider, node names, users, the hostname commands.
    ref_kcp = by_kind(reference, "KubeadmControlPlane")[0]["spec"]["kubeadmConfigSpec"]
    our_kcp = kcp_config_spec(ours)
    assert our_kcp["clusterConfiguration"]["controllerManager"] == ref_kcp["clusterConfiguration"]["controllerManager"]
    ref_worker = by_kind(reference, "KubeadmConfigTemplate")[0]["spec"]["template"]["spec"]
    our_worker = by_kind(ours, "KubeadmConfigTemplate")[0]["spec"]["template"]["spec"]
    pairs = list(zip(node_registrations(reference), node_registrations(ours), strict=True))
    for ref_registration, our_registration in pairs:
        assert our_registration["name"] == ref_registration["name"]
        assert our_registration["kubeletExtraArgs"] == ref_registration["kubeletExtraArgs"]
    for ref_spec, our_spec in ((ref_kcp, our_kcp), (ref_worker, our_worker)):
        assert our_spec["users"] == ref_spec["users"]
        hostname_commands = [normalised(c) for c in ref_spec["preKubeadmCommands"] if "hostname" in c or "/etc/hosts" in c]
        assert len(hostname_commands) == 3
        assert [normalised(c) for c in our_spec["preKubeadmCommands"][:3]] == hostname_commands

    # kube-vip: the same files, the same image, env meaning and mounts.
    assert {f["path"] for f in our_kcp["files"]} == {f["path"] for f in ref_kcp["files"]}
    assert file_at(our_kcp, "/etc/kube-vip.hosts")["content"].strip() == file_at(ref_kcp, "/etc/kube-vip.hosts")["content"].strip()
    for path in ("/etc/kubernetes/manifests/kube-vip.yaml", "/etc/pre-kubeadm-commands/50-kube-vip-prepare.sh"):
        assert file_at(our_kcp, path)["permissions"] == file_at(ref_kcp, path)["permissions"]
    ref_pod, our_pod = kube_vip_pod(ref_kcp), kube_vip_pod(our_kcp)
    (ref_container,), (our_container,) = ref_pod["spec"]["containers"], our_pod["spec"]["containers"]
    assert our_container["image"].rpartition(":")[0] == ref_container["image"].rpartition(":")[0]
    assert our_container["args"] == ref_container["args"]
    assert our_container["volumeMounts"] == ref_container["volumeMounts"]
    assert our_pod["spec"]["volumes"] == ref_pod["spec"]["volumes"]
    assert our_container["securityContext"] == ref_container["securityContext"]
    ref_env = env_of(ref_pod)
    assert ref_env.pop("vip_interface") == ""  # empty there: kube-vip picks the default route's interface
    assert env_of(our_pod) == ref_env
    # The same admin.conf -> super-admin.conf switch on the init node.
    ref_script = file_at(ref_kcp, "/etc/pre-kubeadm-commands/50-kube-vip-prepare.sh")["content"]
    our_script = file_at(our_kcp, "/etc/pre-kubeadm-commands/50-kube-vip-prepare.sh")["content"]
    for needle in ("s#path: /etc/kubernetes/admin.conf#path: /etc/kubernetes/super-admin.conf#", "/run/kubeadm/kubeadm.yaml", "29"):
        assert needle in ref_script and needle in our_script


def test_clusterclass_rendering_matches_capv_clusterclass_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "clusterclass-template.yaml")
    ours = render(host, REFERENCE_CONFIG, mode="clusterclass")

    ref_kinds = {o["kind"] for o in reference if o["apiVersion"].startswith(CAPV_GROUP + "/")}
    our_kinds = {o["kind"] for o in ours if o["apiVersion"].startswith(CAPV_GROUP + "/")}
    assert our_kinds == ref_kinds == {"VSphereClusterTemplate", "VSphereMachineTemplate"}

    # The upstream class fills VSphereClusterTemplate.spec.template.spec through patches;
    # we write the same fields directly.
    (ref_class,) = by_kind(reference, "ClusterClass")
    patched = set()
    for patch in ref_class["spec"]["patches"]:
        for definition in patch["definitions"]:
            if definition["selector"]["kind"] == "VSphereClusterTemplate":
                prefix = "/spec/template/spec/"
                patched |= {p["path"].removeprefix(prefix) for p in definition["jsonPatches"] if p["path"].startswith(prefix)}
    assert patched == {"controlPlaneEndpoint", "identityRef", "server", "thumbprint"}
    our_template_spec = one(ours, "VSphereClusterTemplate")["spec"]["template"]["spec"]
    assert set(our_template_spec) == patched
    assert our_template_spec["thumbprint"] == SHA1_THUMBPRINT and our_template_spec["server"] == SERVER

    # Topology: the reference's class wiring (infrastructure, control plane, workers) is ours too.
    (our_class,) = by_kind(ours, "ClusterClass")
    assert our_class["spec"]["infrastructure"]["templateRef"]["kind"] == ref_class["spec"]["infrastructure"]["templateRef"]["kind"]
    assert (
        our_class["spec"]["controlPlane"]["machineInfrastructure"]["templateRef"]["kind"]
        == ref_class["spec"]["controlPlane"]["machineInfrastructure"]["templateRef"]["kind"]
    )
    ref_worker_class = ref_class["spec"]["workers"]["machineDeployments"][0]
    our_worker_class = our_class["spec"]["workers"]["machineDeployments"][0]
    assert our_worker_class["infrastructure"]["templateRef"]["kind"] == ref_worker_class["infrastructure"]["templateRef"]["kind"]
    assert our_worker_class["bootstrap"]["templateRef"]["kind"] == ref_worker_class["bootstrap"]["templateRef"]["kind"]

    # The kube-vip manifest the topology example passes as a variable matches ours.
    topology = load_reference(shared_folder, "cluster-template-topology.yaml")
    (ref_cluster,) = by_kind(topology, "Cluster")
    variables = {v["name"]: v["value"] for v in ref_cluster["spec"]["topology"]["variables"]}
    ref_pod = yaml.safe_load(variables["kubeVipPodManifest"])
    our_pod = kube_vip_pod(kcp_config_spec(ours))
    ref_env = env_of(ref_pod)
    ref_env.pop("vip_interface")
    assert env_of(our_pod) == ref_env
    assert variables["controlPlaneIpAddr"] == our_template_spec["controlPlaneEndpoint"]["host"]
    assert variables["credsSecretName"] == our_template_spec["identityRef"]["name"]


def test_check_cluster_leaves_other_providers_alone(host: PluginHost) -> None:
    cluster = parse_fleet(fleet_text(), host).clusters[0]
    provider = host.providers["vsphere"]
    assert dokaseca_vsphere.plugin.check_cluster(cluster=cluster, provider=attrs.evolve(provider, name="someone-else")) is None
    assert dokaseca_vsphere.plugin.check_cluster(cluster=cluster, provider=provider) == []
