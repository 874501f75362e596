"""What the Azure provider adds to a cluster's GitOps Bridge registration."""

import pytest

from dokaseca.config import parse_fleet
from dokaseca.gitops import cluster_metadata
from dokaseca.models import InfraResult
from dokaseca.testing import OneClusterFleet

import dokaseca_azure.plugin

SUBSCRIPTION = "0b8f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
TENANT = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
CLIENT_ID = "5d1c9f3e-7a2b-4c8d-9e0f-1a2b3c4d5e6f"
BASE = {"subscriptionId": SUBSCRIPTION, "identity": {"clientId": CLIENT_ID, "tenantId": TENANT}}
FLEET = OneClusterFleet("azure", BASE, name="web-1", region="westeurope")

PREPARED = InfraResult(
    outputs={
        "subscription_id": SUBSCRIPTION,
        "tenant_id": TENANT,
        "location": "westeurope",
        "resource_group": "acme-prod",
        "addon_identities": {
            "external_dns": {
                "client_id": "0f0e0d0c-0b0a-4909-8807-060504030201",
                "principal_id": "11111111-2222-4333-8444-555555555555",
                "resource_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/acme-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/web-1-external_dns",
                "namespace": "external-dns",
                "service_account": "external-dns",
            }
        },
    }
)


@pytest.fixture
def host(plugin_host):
    return plugin_host(("azure", dokaseca_azure.plugin))


def test_prepared_ids_and_addon_identities_become_gitops_bridge_annotations(host):
    (cluster,) = parse_fleet(FLEET.text(), host).clusters
    metadata = cluster_metadata(host, cluster, PREPARED)
    assert metadata.labels["azure_cluster_name"] == "web-1"
    annotations = metadata.annotations
    assert {k: annotations[k] for k in ("azure_subscription_id", "azure_tenant_id", "azure_resource_group", "azure_location")} == {
        "azure_subscription_id": SUBSCRIPTION,
        "azure_tenant_id": TENANT,
        "azure_resource_group": "acme-prod",
        "azure_location": "westeurope",
    }
    assert annotations["external_dns_client_id"] == "0f0e0d0c-0b0a-4909-8807-060504030201"
    assert (annotations["external_dns_namespace"], annotations["external_dns_service_account"]) == ("external-dns", "external-dns")


def test_offline_the_values_come_from_the_fleet_file(host):
    (cluster,) = parse_fleet(FLEET.text(FLEET.with_config(resourceGroupScope="environment"), environment="stg"), host).clusters
    annotations = cluster_metadata(host, cluster).annotations
    assert (annotations["azure_subscription_id"], annotations["azure_resource_group"]) == (SUBSCRIPTION, "acme-stg")
    assert annotations["azure_tenant_id"] == TENANT  # azure.identity.tenantId: prepare makes it the subscription's
    assert not any(key.endswith("_client_id") for key in annotations)


def test_a_service_principal_secret_name_stays_out_of_the_metadata(host):
    config = FLEET.with_config(
        identity={"clientId": CLIENT_ID, "tenantId": TENANT, "type": "ServicePrincipal", "secretName": "capz-sp-password"}
    )
    (cluster,) = parse_fleet(FLEET.text(config), host).clusters
    metadata = cluster_metadata(host, cluster, PREPARED)
    assert "capz-sp-password" not in repr(metadata)
    assert "principal_id" not in repr(metadata)  # an object id, of no use to an addon
