"""What the GCP provider adds to a cluster's GitOps Bridge registration."""

import pytest

from dokaseca.config import parse_fleet
from dokaseca.gitops import cluster_metadata
from dokaseca.models import InfraResult
from dokaseca.testing import OneClusterFleet

import dokaseca_gcp.plugin

FLEET = OneClusterFleet("gcp", {"project": "acme-web-prod"}, name="web-1", region="europe-west1", environment="prod")

PREPARED = InfraResult(
    outputs={
        "project_id": "acme-web-prod",
        "region": "europe-west1",
        "network": "acme-prod",
        "subnets": [{"name": "nodes", "region": "europe-west1", "cidr": "10.10.0.0/20"}],
        "addon_service_accounts": {
            "external_dns": {
                "email": "web-1-external-dns@acme-web-prod.iam.gserviceaccount.com",
                "namespace": "external-dns",
                "service_account": "external-dns",
            }
        },
    }
)


@pytest.fixture
def host(plugin_host):
    return plugin_host(("gcp", dokaseca_gcp.plugin))


def test_prepared_names_and_addon_service_accounts_become_gitops_bridge_annotations(host):
    (cluster,) = parse_fleet(FLEET.text(), host).clusters
    metadata = cluster_metadata(host, cluster, PREPARED)
    assert metadata.labels["gcp_cluster_name"] == "web-1"
    annotations = metadata.annotations
    assert {k: annotations[k] for k in ("gcp_cluster_name", "gcp_project_id", "gcp_region", "gcp_network")} == {
        "gcp_cluster_name": "web-1",
        "gcp_project_id": "acme-web-prod",
        "gcp_region": "europe-west1",
        "gcp_network": "acme-prod",
    }
    assert annotations["external_dns_gcp_service_account"] == "web-1-external-dns@acme-web-prod.iam.gserviceaccount.com"
    assert (annotations["external_dns_namespace"], annotations["external_dns_service_account"]) == ("external-dns", "external-dns")


def test_offline_the_names_come_from_the_fleet_file(host):
    config = FLEET.with_config(network={"create": True, "subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20"}]})
    (cluster,) = parse_fleet(FLEET.text(config), host).clusters
    annotations = cluster_metadata(host, cluster).annotations
    assert (annotations["gcp_project_id"], annotations["gcp_network"]) == ("acme-web-prod", "acme-prod")
    assert not [key for key in annotations if key.endswith("_gcp_service_account")]


def test_credentials_stay_out_of_the_metadata(host):
    config = FLEET.with_config(credentialsRef={"name": "capg-prod-credentials"})
    (cluster,) = parse_fleet(FLEET.text(config), host).clusters
    metadata = cluster_metadata(host, cluster, PREPARED)
    assert "capg-prod-credentials" not in repr(metadata)
    assert not [key for key in {**metadata.labels, **metadata.annotations} if "credential" in key or "token" in key or "key" in key]
