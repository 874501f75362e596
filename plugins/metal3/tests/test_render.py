"""Rendering of Metal3 clusters: content, CRD validity, config errors, and
agreement with CAPM3's own cluster templates."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Callable, Optional

import attrs
import pytest
import yaml

from dokaseca.config import parse_fleet
from dokaseca.crds import CRDSchemas
from dokaseca.errors import ProviderError
from dokaseca.models import InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.testing import OneClusterFleet, by_kind, clusterctl_template, content_named, node_registrations, one

import dokaseca_metal3.plugin

VIP = "172.16.10.5"
IMAGE_SHA256 = "a" * 64
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com"

BASE_CONFIG: dict[str, Any] = {
    "controlPlaneEndpoint": VIP,
    "image": {"url": "https://images.example.com/ubuntu-2404.qcow2", "checksum": IMAGE_SHA256, "format": "qcow2"},
}
STATIC_NETWORK: dict[str, Any] = {
    "mode": "static",
    "interface": "enp1s0",
    "ipPool": {"start": "172.16.10.100", "end": "172.16.10.200", "prefix": 24, "gateway": "172.16.10.1", "dnsServers": ["172.16.10.2"]},
}


# -- helpers ----------------------------------------------------------------------


FLEET = OneClusterFleet("metal3", BASE_CONFIG, name="edge-1")
fleet_text, with_config, render, problems_of = FLEET.text, FLEET.with_config, FLEET.render, FLEET.problems


@pytest.fixture
def host(plugin_host: Callable[..., PluginHost]) -> PluginHost:
    return plugin_host(("metal3", dokaseca_metal3.plugin))


def template_names(objects: list[dict], kind: str) -> dict[str, str]:
    """Base name -> full name of the ``kind`` templates, each named after its spec."""
    bases = [o["metadata"]["name"].rsplit("-", 1)[0] for o in by_kind(objects, kind)]
    return {base: content_named(objects, kind, base)["metadata"]["name"] for base in bases}


def kubelet_arg(registration: dict, name: str) -> Optional[str]:
    return next((arg["value"] for arg in registration.get("kubeletExtraArgs", []) if arg["name"] == name), None)


def kube_vip_pod(kubeadm_config_spec: dict) -> dict:
    manifest = next(f for f in kubeadm_config_spec["files"] if f["path"] == "/etc/kubernetes/manifests/kube-vip.yaml")
    return yaml.safe_load(manifest["content"])


# -- classic and ClusterClass -------------------------------------------------------


def test_classic_cluster_renders_valid_metal3_objects(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(host, workers=[{"name": "general", "replicas": 2}, {"name": "storage", "replicas": 3}])

    assert crd_schemas.validate_all(objects) == []
    metal3_cluster = one(objects, "Metal3Cluster", "edge-1")
    assert metal3_cluster["apiVersion"] == "infrastructure.cluster.x-k8s.io/v1beta2"
    assert metal3_cluster["metadata"]["namespace"] == "prod"
    assert metal3_cluster["spec"] == {"controlPlaneEndpoint": {"host": VIP, "port": 6443}, "cloudProviderEnabled": False}
    assert one(objects, "Cluster")["spec"]["infrastructureRef"] == {
        "apiGroup": "infrastructure.cluster.x-k8s.io",
        "kind": "Metal3Cluster",
        "name": "edge-1",
    }

    data_template = content_named(objects, "Metal3DataTemplate", "edge-1-data")
    templates = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Metal3MachineTemplate"}
    bases = ["edge-1-control-plane", "edge-1-general", "edge-1-storage"]
    assert sorted(templates) == sorted(content_named(objects, "Metal3MachineTemplate", base)["metadata"]["name"] for base in bases)
    for machine_template in templates.values():
        assert machine_template["spec"]["nodeReuse"] is False
        machine = machine_template["spec"]["template"]["spec"]
        assert machine["dataTemplate"] == {"name": data_template["metadata"]["name"]}
        assert machine["automatedCleaningMode"] == "metadata"
        assert machine["image"] == {
            "url": "https://images.example.com/ubuntu-2404.qcow2",
            "checksum": IMAGE_SHA256,
            "checksumType": "sha256",
            "diskFormat": "qcow2",
        }
    kcp = one(objects, "KubeadmControlPlane")
    control_plane = content_named(objects, "Metal3MachineTemplate", "edge-1-control-plane")
    assert kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"] == control_plane["metadata"]["name"]
    deployment = one(objects, "MachineDeployment", "edge-1-storage")
    storage = content_named(objects, "Metal3MachineTemplate", "edge-1-storage")
    assert deployment["spec"]["template"]["spec"]["infrastructureRef"]["name"] == storage["metadata"]["name"]


def test_clusterclass_mode_renders_a_cluster_template_with_the_same_spec(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    classic = render(host)
    objects = render(host, mode="clusterclass")

    assert crd_schemas.validate_all(objects) == []
    assert not [o for o in objects if o["kind"] == "Metal3Cluster"]
    cluster_template = content_named(objects, "Metal3ClusterTemplate", "edge-1")
    assert cluster_template["spec"]["template"]["spec"] == one(classic, "Metal3Cluster")["spec"]
    cluster_class = one(objects, "ClusterClass")
    assert cluster_class["spec"]["infrastructure"]["templateRef"] == {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": "Metal3ClusterTemplate",
        "name": cluster_template["metadata"]["name"],
    }
    control_plane = content_named(objects, "Metal3MachineTemplate", "edge-1-control-plane")
    assert cluster_class["spec"]["controlPlane"]["machineInfrastructure"]["templateRef"]["name"] == control_plane["metadata"]["name"]
    # The machine templates are the classic ones: same specs, so same names.
    assert template_names(objects, "Metal3MachineTemplate") == template_names(classic, "Metal3MachineTemplate")
    assert one(objects, "Metal3DataTemplate")["spec"]["clusterName"] == "edge-1"
    kcp_template = one(objects, "KubeadmControlPlaneTemplate")
    assert kube_vip_pod(kcp_template["spec"]["template"]["spec"]["kubeadmConfigSpec"])["kind"] == "Pod"


# -- template names -----------------------------------------------------------------


def test_a_pool_size_change_renames_only_that_pools_template(host: PluginHost) -> None:
    workers = [{"name": "general", "replicas": 2, "machineSize": "r650"}, {"name": "storage", "replicas": 3}]
    before = render(host, workers=workers)
    after = render(host, workers=[{**workers[0], "machineSize": "r660"}, workers[1]])

    old, new = template_names(before, "Metal3MachineTemplate"), template_names(after, "Metal3MachineTemplate")
    assert old.keys() == new.keys() == {"edge-1-control-plane", "edge-1-general", "edge-1-storage"}
    assert new["edge-1-general"] != old["edge-1-general"]
    assert new["edge-1-control-plane"] == old["edge-1-control-plane"]
    assert new["edge-1-storage"] == old["edge-1-storage"]
    assert template_names(after, "Metal3DataTemplate") == template_names(before, "Metal3DataTemplate")
    # The MachineDeployment follows the new template; the one that did not change keeps its reference.

    def ref(objects: list[dict], pool: str) -> str:
        return one(objects, "MachineDeployment", f"edge-1-{pool}")["spec"]["template"]["spec"]["infrastructureRef"]["name"]

    assert ref(after, "general") == new["edge-1-general"]
    assert ref(after, "storage") == ref(before, "storage")


def test_a_network_data_change_renames_the_data_template_and_every_machine_template(host: PluginHost) -> None:
    before = render(host, with_config(network=STATIC_NETWORK))
    changed = {**STATIC_NETWORK, "interface": "eno1", "ipPool": {**STATIC_NETWORK["ipPool"], "end": "172.16.10.250"}}
    after = render(host, with_config(network=changed))

    old_data, new_data = content_named(before, "Metal3DataTemplate", "edge-1-data"), content_named(after, "Metal3DataTemplate", "edge-1-data")
    assert new_data["metadata"]["name"] != old_data["metadata"]["name"]
    old, new = template_names(before, "Metal3MachineTemplate"), template_names(after, "Metal3MachineTemplate")
    assert old.keys() == new.keys()
    for base in old:
        assert new[base] != old[base], base
        machine = one(after, "Metal3MachineTemplate", new[base])["spec"]["template"]["spec"]
        assert machine["dataTemplate"] == {"name": new_data["metadata"]["name"]}
    # The IPPool is not a template: same name, new ranges, and the network data still points at it.
    pool = one(after, "IPPool", "edge-1-nodes")
    assert pool["spec"]["pools"][0]["end"] == "172.16.10.250"
    assert new_data["spec"]["networkData"]["networks"]["ipv4"][0]["ipAddressFromIPPool"] == "edge-1-nodes"


def test_a_change_outside_the_templates_keeps_their_names(host: PluginHost) -> None:
    before = render(host, workers=[{"name": "general", "replicas": 2}])
    after = render(host, workers=[{"name": "general", "replicas": 5}], controlPlane={"replicas": 5})
    for kind in ("Metal3MachineTemplate", "Metal3DataTemplate"):
        assert template_names(after, kind) == template_names(before, kind)


# -- host selection -----------------------------------------------------------------


def test_host_selector_combines_environment_role_size_and_pool_labels(host: PluginHost) -> None:
    config = with_config(machineSize="r650", hostSelectors={"controlPlane": {"rack": "r1"}, "gpu": {"example.com/gpu": "a100"}})
    objects = render(
        host,
        config,
        workers=[{"name": "general", "replicas": 2}, {"name": "gpu", "replicas": 1, "machineSize": "xe9680"}],
        controlPlane={"machineSize": "r450"},
    )

    def selector(base: str) -> dict:
        return content_named(objects, "Metal3MachineTemplate", base)["spec"]["template"]["spec"]["hostSelector"]

    assert selector("edge-1-control-plane") == {
        "matchLabels": {
            "dokaseca.io/environment": "prod",
            "dokaseca.io/role": "control-plane",
            "dokaseca.io/machine-size": "r450",
            "rack": "r1",
        }
    }
    assert selector("edge-1-gpu") == {
        "matchLabels": {
            "dokaseca.io/environment": "prod",
            "dokaseca.io/role": "worker",
            "dokaseca.io/machine-size": "xe9680",
            "example.com/gpu": "a100",
        }
    }
    assert selector("edge-1-general")["matchLabels"]["dokaseca.io/machine-size"] == "r650"


def test_host_selector_without_sizes_has_only_environment_and_role(host: PluginHost) -> None:
    objects = render(host)
    spec = content_named(objects, "Metal3MachineTemplate", "edge-1-general")["spec"]["template"]["spec"]
    assert spec["hostSelector"] == {"matchLabels": {"dokaseca.io/environment": "prod", "dokaseca.io/role": "worker"}}


def test_host_selector_for_a_pool_the_cluster_does_not_have_is_an_error(host: PluginHost) -> None:
    problems = problems_of(host, with_config(hostSelectors={"genral": {"disk": "ssd"}}))
    assert list(problems) == ["clusters[0].metal3.hostSelectors.genral"]
    message = problems["clusters[0].metal3.hostSelectors.genral"]
    assert "names no worker pool" in message and "did you mean 'general'?" in message


@pytest.mark.parametrize(
    ("cluster", "path"),
    [
        ({"workers": [{"name": "general", "replicas": 1, "machineSize": "2 x Xeon"}]}, "clusters[0].workers.general.machineSize"),
        ({"controlPlane": {"machineSize": "2 x Xeon"}}, "clusters[0].controlPlane.machineSize"),
    ],
)
def test_machine_size_that_is_not_a_label_value_is_an_error(host: PluginHost, cluster: dict, path: str) -> None:
    problems = problems_of(host, **cluster)
    assert list(problems) == [path]
    assert "dokaseca.io/machine-size" in problems[path] and "'2 x Xeon'" in problems[path]


def test_every_cluster_level_problem_is_reported_at_once(host: PluginHost) -> None:
    network = {**STATIC_NETWORK, "ipPool": {"start": "192.168.1.100", "end": "192.168.1.200", "prefix": 24, "gateway": "192.168.1.1"}}
    problems = problems_of(
        host,
        with_config(controlPlaneEndpoint="192.168.1.5", network=network, hostSelectors={"gpu": {"disk": "ssd"}}),
        workers=[{"name": "general", "replicas": 1, "machineSize": "big/one"}],
        controlPlane={"machineSize": "r450 "},
    )
    assert sorted(problems) == [
        "clusters[0].controlPlane.machineSize",
        "clusters[0].metal3.hostSelectors.gpu",
        "clusters[0].network.pods",
        "clusters[0].workers.general.machineSize",
    ]


def test_check_cluster_leaves_other_providers_alone(host: PluginHost) -> None:
    cluster = parse_fleet(fleet_text(), host).clusters[0]
    provider = host.providers["metal3"]
    assert dokaseca_metal3.plugin.check_cluster(cluster=cluster, provider=provider) == []
    assert dokaseca_metal3.plugin.check_cluster(cluster=cluster, provider=attrs.evolve(provider, name="someone-else")) is None


# -- node network -------------------------------------------------------------------


def test_dhcp_is_the_default_and_renders_no_pool_or_network_data(host: PluginHost) -> None:
    objects = render(host)
    assert not [o for o in objects if o["kind"] == "IPPool"]
    assert one(objects, "Metal3DataTemplate")["spec"] == {"clusterName": "edge-1"}


def test_static_addressing_renders_an_ip_pool_used_by_the_network_data(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(host, with_config(network=STATIC_NETWORK))

    assert crd_schemas.validate_all(objects) == []
    pool = one(objects, "IPPool", "edge-1-nodes")
    assert pool["apiVersion"] == "ipam.metal3.io/v1alpha1"
    assert pool["metadata"]["namespace"] == "prod"
    assert pool["spec"] == {
        "clusterName": "edge-1",
        "namePrefix": "edge-1-nodes",
        "pools": [
            {"start": "172.16.10.100", "end": "172.16.10.200", "prefix": 24, "gateway": "172.16.10.1", "dnsServers": ["172.16.10.2"]}
        ],
    }
    network_data = one(objects, "Metal3DataTemplate")["spec"]["networkData"]
    assert network_data["links"]["ethernets"] == [{"type": "phy", "id": "enp1s0", "macAddress": {"fromHostInterface": "enp1s0"}}]
    (network,) = network_data["networks"]["ipv4"]
    assert network["link"] == "enp1s0"
    assert network["ipAddressFromIPPool"] == "edge-1-nodes"
    assert network["routes"] == [{"network": "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": "edge-1-nodes"}}]
    assert network_data["services"] == {"dnsFromIPPool": "edge-1-nodes"}


def test_static_ipv6_addressing_uses_ipv6_networks_and_a_128_bit_vip(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    network = {
        "mode": "static",
        "interface": "eno1",
        "ipPool": {"start": "fd00:10::100", "end": "fd00:10::1ff", "prefix": 64, "gateway": "fd00:10::1"},
    }
    objects = render(host, with_config(controlPlaneEndpoint="fd00:10::5", network=network))

    assert crd_schemas.validate_all(objects) == []
    network_data = one(objects, "Metal3DataTemplate")["spec"]["networkData"]
    assert "ipv4" not in network_data["networks"]
    assert network_data["networks"]["ipv6"][0]["routes"][0]["network"] == "::"
    assert "services" not in network_data  # no dnsServers given
    pod = kube_vip_pod(one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"])
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["vip_cidr"] == "128"
    assert env["address"] == "fd00:10::5"


def test_nodes_subnet_overlapping_the_pod_range_is_an_error(host: PluginHost) -> None:
    # The built-in pod range is 192.168.0.0/16, a common bare-metal LAN.
    network = {**STATIC_NETWORK, "ipPool": {"start": "192.168.1.100", "end": "192.168.1.200", "prefix": 24, "gateway": "192.168.1.1"}}
    problems = problems_of(host, with_config(controlPlaneEndpoint="192.168.1.5", network=network))
    # One problem: the VIP inside the same range is not reported again.
    assert list(problems) == ["clusters[0].network.pods"]
    assert "overlaps the nodes' subnet 192.168.1.0/24" in problems["clusters[0].network.pods"]
    assert "'192.168.0.0/16'" in problems["clusters[0].network.pods"]


def test_vip_inside_the_service_range_is_an_error(host: PluginHost) -> None:
    problems = problems_of(host, with_config(controlPlaneEndpoint="10.96.0.50"))
    assert list(problems) == ["clusters[0].network.services"]
    assert "contains the control-plane VIP 10.96.0.50" in problems["clusters[0].network.services"]


def test_cluster_ranges_away_from_the_hosts_network_are_accepted(host: PluginHost) -> None:
    network = {**STATIC_NETWORK, "ipPool": {"start": "192.168.1.100", "end": "192.168.1.200", "prefix": 24, "gateway": "192.168.1.1"}}
    config = with_config(controlPlaneEndpoint="192.168.1.5", network=network)
    objects = render(host, config, network={"pods": ["10.244.0.0/16"], "services": ["10.96.0.0/12"]})
    assert one(objects, "IPPool")["spec"]["pools"][0]["start"] == "192.168.1.100"


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("10.96.0.50", "contains the control-plane VIP 10.96.0.50"),
        ("api.edge-1.example.com", "is not an IP address"),
    ],
)
def test_an_endpoint_from_prepare_is_checked_at_render(host: PluginHost, endpoint: str, fragment: str) -> None:
    # Not in the fleet file, so check_cluster cannot have seen it.
    with pytest.raises(ProviderError, match=fragment):
        render(host, infra=InfraResult(outputs={"control_plane_endpoint": endpoint}))


# -- kubeadm: node identity, kube-vip, users ------------------------------------------


def test_nodes_are_named_and_labelled_from_metal3_metadata(host: PluginHost) -> None:
    objects = render(host, workers=[{"name": "general", "replicas": 2, "labels": {"tier": "general", "disk": "ssd"}}])
    kcp_spec = one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    worker_spec = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    registrations = [
        kcp_spec["initConfiguration"]["nodeRegistration"],
        kcp_spec["joinConfiguration"]["nodeRegistration"],
        worker_spec["joinConfiguration"]["nodeRegistration"],
    ]
    for registration in registrations:
        assert registration["name"] == "{{ ds.meta_data.name }}"
        assert "metal3.io/uuid={{ ds.meta_data.uuid }}" in kubelet_arg(registration, "node-labels").split(",")
        # No cloud controller manager on bare metal: CAPM3 sets the providerID itself.
        assert kubelet_arg(registration, "cloud-provider") is None
    # The pool's own labels are kept next to the label CAPM3 needs.
    assert set(kubelet_arg(registrations[2], "node-labels").split(",")) == {
        "metal3.io/uuid={{ ds.meta_data.uuid }}",
        "disk=ssd",
        "tier=general",
    }


def test_kube_vip_static_pod_serves_the_vip_on_control_plane_nodes_only(host: PluginHost) -> None:
    objects = render(host, with_config(kubeVipVersion="v0.9.2"))
    kcp_spec = one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]

    pod = kube_vip_pod(kcp_spec)
    assert pod["metadata"] == {"name": "kube-vip", "namespace": "kube-system"}
    assert pod["spec"]["hostNetwork"] is True
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "ghcr.io/kube-vip/kube-vip:v0.9.2"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["address"] == VIP
    assert env["port"] == "6443"
    assert env["vip_arp"] == "true" and env["cp_enable"] == "true" and env["vip_leaderelection"] == "true"
    assert env["vip_cidr"] == "32"
    assert {"NET_ADMIN", "NET_RAW"} <= set(container["securityContext"]["capabilities"]["add"])
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["spec"]["volumes"]}
    assert volumes == {"kubeconfig": "/etc/kubernetes/admin.conf", "etchosts": "/etc/kube-vip.hosts"}
    hosts = next(f for f in kcp_spec["files"] if f["path"] == "/etc/kube-vip.hosts")
    assert hosts["content"].split() == ["127.0.0.1", "localhost", "kubernetes"]

    worker_spec = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    assert "files" not in worker_spec


def test_kube_vip_uses_super_admin_conf_only_while_kubeadm_init_runs(host: PluginHost) -> None:
    spec = one(render(host), "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    script = next(f for f in spec["files"] if f["path"] == spec["preKubeadmCommands"][0])
    assert "/run/kubeadm/kubeadm.yaml" in script["content"] and '"$minor" -ge 29' in script["content"]
    assert "path: /etc/kubernetes/super-admin.conf" in script["content"]
    assert spec["postKubeadmCommands"] == [
        "sed -i 's#path: /etc/kubernetes/super-admin.conf#path: /etc/kubernetes/admin.conf#' /etc/kubernetes/manifests/kube-vip.yaml"
    ]
    # The sed patterns must match the hostPath line we write, and only that line.
    manifest = next(f["content"] for f in spec["files"] if f["path"].endswith("kube-vip.yaml"))
    assert len(re.findall(r"(?m)^\s*path: /etc/kubernetes/admin\.conf$", manifest)) == 1
    worker_spec = one(render(host), "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    assert "preKubeadmCommands" not in worker_spec and "postKubeadmCommands" not in worker_spec


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_ssh_authorized_keys_become_a_sudo_user_on_every_node(host: PluginHost, mode: str) -> None:
    objects = render(host, with_config(sshAuthorizedKeys=[SSH_KEY]), mode=mode)
    kcp = one(objects, "KubeadmControlPlaneTemplate" if mode == "clusterclass" else "KubeadmControlPlane")
    kcp_spec = kcp["spec"]["template"]["spec"]["kubeadmConfigSpec"] if mode == "clusterclass" else kcp["spec"]["kubeadmConfigSpec"]
    worker_spec = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    for spec in (kcp_spec, worker_spec):
        assert spec["users"] == [{"name": "metal3", "sshAuthorizedKeys": [SSH_KEY], "sudo": "ALL=(ALL) NOPASSWD:ALL"}]


def test_no_users_without_ssh_keys(host: PluginHost) -> None:
    objects = render(host)
    assert "users" not in one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]


def test_infra_outputs_take_precedence_over_the_config(host: PluginHost) -> None:
    objects = render(host, infra=InfraResult(outputs={"control_plane_endpoint": "172.16.10.9"}))
    assert one(objects, "Metal3Cluster")["spec"]["controlPlaneEndpoint"]["host"] == "172.16.10.9"
    env = kube_vip_pod(one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"])["spec"]["containers"][0]["env"]
    assert {"name": "address", "value": "172.16.10.9"} in env


# -- config validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path", "fragment"),
    [
        (with_config(controlPlaneEndpoint="api.example.com"), "controlPlaneEndpoint", "is not an IP address"),
        (with_config(image={**BASE_CONFIG["image"], "checksumType": "sha1"}), "image.checksumType", "is not a valid choice"),
        (with_config(image={**BASE_CONFIG["image"], "checksum": "b" * 128}), "image.checksum", "set checksumType: sha512"),
        (with_config(image={**BASE_CONFIG["image"], "checksum": "not-hex"}), "image.checksum", "neither a hex digest nor an http(s) URL"),
        (with_config(image={**BASE_CONFIG["image"], "url": "ftp://images/x.img"}), "image.url", "is not an http(s) URL"),
        (with_config(image={**BASE_CONFIG["image"], "format": "iso"}), "image.format", "expected one of: 'live-iso'"),
        (with_config(image={"url": "https://images.example.com/x.img"}), "image.checksum", "required key is missing"),
        ({"image": BASE_CONFIG["image"]}, "controlPlaneEndpoint", "required key is missing"),
        (with_config(network={"mode": "static", "interface": "enp1s0"}), "network.ipPool", "is required when mode is 'static'"),
        (with_config(network={**STATIC_NETWORK, "interface": None}), "network.interface", "is required when mode is 'static'"),
        (with_config(network={"ipPool": STATIC_NETWORK["ipPool"]}), "network.ipPool", "set mode: static"),
        (with_config(network={**STATIC_NETWORK, "mode": "dchp"}), "network.mode", "did you mean 'dhcp'?"),
        (
            with_config(controlPlaneEndpoint="172.16.10.150", network=STATIC_NETWORK),
            "controlPlaneEndpoint",
            "inside network.ipPool's start-end range",
        ),
        (
            with_config(controlPlaneEndpoint="172.16.99.5", network=STATIC_NETWORK),
            "controlPlaneEndpoint",
            "outside the nodes' subnet 172.16.10.0/24",
        ),
        (
            with_config(network={**STATIC_NETWORK, "ipPool": {**STATIC_NETWORK["ipPool"], "gateway": "172.16.11.1"}}),
            "network.ipPool.gateway",
            "outside the nodes' subnet",
        ),
        (
            with_config(network={**STATIC_NETWORK, "ipPool": {**STATIC_NETWORK["ipPool"], "end": "172.16.10.50"}}),
            "network.ipPool.end",
            "comes before start",
        ),
        (
            with_config(network={**STATIC_NETWORK, "ipPool": {**STATIC_NETWORK["ipPool"], "prefix": 33}}),
            "network.ipPool.prefix",
            "must be between 1 and 32",
        ),
        (with_config(kubeVipVersion="latest"), "kubeVipVersion", "is not a kube-vip release tag"),
        (with_config(hostSelectors={"general": {"dokaseca.io/role": "storage"}}), "hostSelectors", "is set by DoKa Seca"),
        (with_config(hostSelectors={"general": {"disk": "fast ssd"}}), "hostSelectors", "is not a label value"),
        (with_config(hostSelectors={"Workers": {"disk": "ssd"}}), "hostSelectors", "neither 'controlPlane' nor a worker pool name"),
        (with_config(sshAuthorizedKeys=["AAAAC3Nza-no-type"]), "sshAuthorizedKeys", "is not an OpenSSH public key"),
    ],
)
def test_invalid_values_are_reported_at_their_path(host: PluginHost, config: dict, path: str, fragment: str) -> None:
    problems = problems_of(host, config)
    full_path = f"clusters[0].metal3.{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


def test_a_private_key_is_rejected_without_being_echoed(host: PluginHost) -> None:
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    problems = problems_of(host, with_config(sshAuthorizedKeys=[private]))
    message = problems["clusters[0].metal3.sshAuthorizedKeys"]
    assert "is a private key" in message
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in message


@pytest.mark.parametrize(
    ("config", "path", "suggestion"),
    [
        ({**BASE_CONFIG, "controlPlaneEndpont": VIP}, "clusters[0].metal3", "did you mean 'controlPlaneEndpoint'?"),
        (with_config(image={**BASE_CONFIG["image"], "checksumtype": "sha256"}), "clusters[0].metal3.image", "did you mean 'checksumType'?"),
        (with_config(network={**STATIC_NETWORK, "ippool": {}}), "clusters[0].metal3.network", "did you mean 'ipPool'?"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(host: PluginHost, config: dict, path: str, suggestion: str) -> None:
    problems = problems_of(host, config)
    assert path in problems, problems
    assert "unknown key" in problems[path] and suggestion in problems[path]


def test_a_minimal_block_is_enough(host: PluginHost) -> None:
    cluster = parse_fleet(fleet_text(BASE_CONFIG), host).clusters[0]
    config = cluster.provider_config
    assert config.network.mode == "dhcp"
    assert config.kube_vip_version.startswith("v")
    assert config.image.checksum_type == "sha256"
    assert cluster.region is None  # bare metal has no regions


# -- agreement with CAPM3's templates -----------------------------------------------------

_TEMPLATE_VALUES = {
    "CLUSTER_NAME": "edge-1",
    "NAMESPACE": "prod",
    "KUBERNETES_VERSION": "v1.33.1",
    "CLUSTER_APIENDPOINT_HOST": VIP,
    "CLUSTER_APIENDPOINT_PORT": "6443",
    "CONTROL_PLANE_MACHINE_COUNT": "3",
    "WORKER_MACHINE_COUNT": "2",
    "IMAGE_URL": "https://images.example.com/ubuntu-2404.qcow2",
    "IMAGE_CHECKSUM": IMAGE_SHA256,
    "IMAGE_CHECKSUM_TYPE": "sha256",
    "IMAGE_FORMAT": "qcow2",
    # Nothing to add to kubeadm's configuration.
    "CTLPLANE_KUBEADM_EXTRA_CONFIG": "",
    "WORKERS_KUBEADM_EXTRA_CONFIG": "",
}


def load_reference(shared_folder: Path, name: str) -> list[dict]:
    return clusterctl_template(shared_folder / "reference" / "templates" / "capm3" / name, _TEMPLATE_VALUES)


def test_classic_rendering_matches_capm3_clusterctl_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "clusterctl-cluster.yaml")
    ours = render(host)
    metal3_group = "infrastructure.cluster.x-k8s.io/"

    def provider_kinds(objects: list[dict]) -> set[str]:
        return {o["kind"] for o in objects if o["apiVersion"].startswith(metal3_group)}

    assert provider_kinds(ours) == provider_kinds(reference)

    # Metal3Cluster: same keys, same endpoint and cloud-provider setting.
    (ref_cluster,), (our_cluster,) = by_kind(reference, "Metal3Cluster"), by_kind(ours, "Metal3Cluster")
    assert our_cluster["spec"].keys() == ref_cluster["spec"].keys()
    assert our_cluster["spec"]["controlPlaneEndpoint"] == {"host": VIP, "port": int(ref_cluster["spec"]["controlPlaneEndpoint"]["port"])}
    assert our_cluster["spec"]["cloudProviderEnabled"] == ref_cluster["spec"]["cloudProviderEnabled"]

    # Machine templates: same settings; v1beta1's image.format is v1beta2's image.diskFormat.
    ref_machine = by_kind(reference, "Metal3MachineTemplate")[0]
    ref_machine_spec = ref_machine["spec"]["template"]["spec"]
    data_templates = {o["metadata"]["name"] for o in by_kind(ours, "Metal3DataTemplate")}
    for ours_template in by_kind(ours, "Metal3MachineTemplate"):
        assert ours_template["spec"]["nodeReuse"] == ref_machine["spec"]["nodeReuse"]
        machine = ours_template["spec"]["template"]["spec"]
        assert machine["automatedCleaningMode"] == ref_machine_spec["automatedCleaningMode"]
        assert machine["dataTemplate"]["name"] in data_templates
        renamed = {"diskFormat" if k == "format" else k: v for k, v in ref_machine_spec["image"].items()}
        assert machine["image"] == renamed
        assert set(machine) - {"hostSelector"} == set(ref_machine_spec)  # hostSelector: our inventory labels

    # One data template serves every role here; the reference has one per role, all alike with DHCP.
    (ours_data,) = by_kind(ours, "Metal3DataTemplate")
    ref_data_templates = by_kind(reference, "Metal3DataTemplate")
    assert ref_data_templates
    for ref_data in ref_data_templates:
        assert ours_data["spec"] == ref_data["spec"]  # DHCP: only clusterName, as the template

    # Node identity: same node name and node label, on init and join, control plane and workers.
    pairs = list(zip(node_registrations(reference), node_registrations(ours), strict=True))
    for ref_registration, our_registration in pairs:
        assert our_registration["name"] == ref_registration["name"]
        assert kubelet_arg(our_registration, "node-labels") == kubelet_arg(ref_registration, "node-labels")


def test_static_addressing_matches_capm3_ip_pool_example(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster.yaml")
    ours = render(host, with_config(network=STATIC_NETWORK))

    # The example's pool1: a start/end range with prefix and gateway, and a namePrefix.
    ref_pool = next(p for p in by_kind(reference, "IPPool") if "start" in p["spec"]["pools"][0])
    (our_pool,) = by_kind(ours, "IPPool")
    assert our_pool["apiVersion"] == ref_pool["apiVersion"]
    assert our_pool["spec"].keys() == ref_pool["spec"].keys()
    assert set(ref_pool["spec"]["pools"][0]) <= set(our_pool["spec"]["pools"][0])
    assert our_pool["spec"]["clusterName"] == "edge-1"

    # Its static network: address and default gateway from the pool, MAC from introspection.
    ref_network_data = by_kind(reference, "Metal3DataTemplate")[0]["spec"]["networkData"]
    our_network_data = by_kind(ours, "Metal3DataTemplate")[0]["spec"]["networkData"]
    ref_static = ref_network_data["networks"]["ipv4"][0]
    our_static = our_network_data["networks"]["ipv4"][0]
    assert set(our_static) == set(ref_static)
    assert our_static["ipAddressFromIPPool"] == our_pool["metadata"]["name"]
    ref_route, our_route = ref_static["routes"][0], our_static["routes"][0]
    assert (our_route["network"], our_route["prefix"]) == (ref_route["network"], ref_route["prefix"])
    assert our_route["gateway"].keys() == ref_route["gateway"].keys() == {"fromIPPool"}
    ref_link = next(link for link in ref_network_data["links"]["ethernets"] if link["id"] == ref_static["link"])
    our_link = next(link for link in our_network_data["links"]["ethernets"] if link["id"] == our_static["link"])
    assert our_link["type"] == ref_link["type"]
    assert our_link["macAddress"].keys() == ref_link["macAddress"].keys()
    assert ipaddress.ip_address(our_pool["spec"]["pools"][0]["gateway"]) in ipaddress.ip_network("172.16.10.0/24")
