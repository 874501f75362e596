"""What the vSphere provider adds to a cluster's GitOps Bridge registration."""

import pytest
import yaml

from dokaseca.config import parse_fleet
from dokaseca.gitops import cluster_metadata
from dokaseca.models import InfraResult
from dokaseca.testing import OneClusterFleet

import dokaseca_vsphere.plugin

CONFIG = {
    "server": "vcenter.example.com",
    "datacenter": "dc1",
    "network": "k8s-nodes",
    "template": "ubuntu-2404-kube-v1.33.1",
    "controlPlaneEndpoint": "10.20.0.10",
    "credentialsFile": "secrets/vcenter.yaml",
}
FLEET = OneClusterFleet("vsphere", CONFIG, name="web-1", environment="dev")
PREPARED = InfraResult(
    outputs={
        "server": "vcenter.example.com",
        "datacenter": "/dc1",
        "network": "/dc1/network/k8s-nodes",
        "template": "/dc1/vm/templates/ubuntu-2404-kube-v1.33.1",
        "folder": "/dc1/vm/acme-dev",
        "resource_pool": "/dc1/host/cluster1/Resources/acme-dev",
    }
)


@pytest.fixture
def host(plugin_host):
    return plugin_host(("vsphere", dokaseca_vsphere.plugin))


def test_where_prepare_placed_the_cluster_becomes_gitops_bridge_annotations(host):
    (cluster,) = parse_fleet(FLEET.text(), host).clusters
    annotations = cluster_metadata(host, cluster, PREPARED).annotations
    assert {k: v for k, v in annotations.items() if k.startswith("vsphere_")} == {
        "vsphere_server": "vcenter.example.com",
        "vsphere_datacenter": "/dc1",
        "vsphere_control_plane_endpoint": "10.20.0.10",
        "vsphere_folder": "/dc1/vm/acme-dev",
        "vsphere_resource_pool": "/dc1/host/cluster1/Resources/acme-dev",
    }


def test_offline_the_fleet_file_says_what_it_knows_and_nothing_is_guessed(host):
    (cluster,) = parse_fleet(FLEET.text(), host).clusters
    annotations = cluster_metadata(host, cluster).annotations
    assert annotations["vsphere_datacenter"] == "dc1"
    assert "vsphere_folder" not in annotations and "vsphere_resource_pool" not in annotations


def test_no_credential_nor_where_it_is_kept_reaches_the_metadata(host, monkeypatch):
    monkeypatch.setenv("VSPHERE_USERNAME", "administrator@vsphere.local")
    monkeypatch.setenv("VSPHERE_PASSWORD", "Vm-Pa55w0rd-never-shown")
    config = FLEET.with_config(identity={"kind": "VSphereClusterIdentity", "name": "vcenter", "secretName": "vcenter-credentials"})
    (cluster,) = parse_fleet(FLEET.text(config), host).clusters
    metadata = cluster_metadata(host, cluster, PREPARED)
    text = yaml.safe_dump({"labels": dict(metadata.labels), "annotations": dict(metadata.annotations)})
    for secret in ("Vm-Pa55w0rd-never-shown", "administrator@vsphere.local", "vcenter-credentials", "secrets/vcenter.yaml"):
        assert secret not in text
