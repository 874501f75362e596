"""What the AWS provider adds to a cluster's GitOps Bridge registration."""

import pytest

from dokaseca.config import parse_fleet
from dokaseca.gitops import cluster_metadata
from dokaseca.models import InfraResult
from dokaseca.testing import OneClusterFleet

import dokaseca_aws.plugin

FLEET = OneClusterFleet("aws", {"sshKeyName": "platform"}, name="web-1", region="eu-west-1")

PREPARED = InfraResult(
    outputs={
        "account_id": "123456789012",
        "vpc_id": "vpc-0aa",
        "addon_roles": {
            "external_dns": {"arn": "arn:aws:iam::123456789012:role/web-1-external_dns", "namespace": "external-dns", "service_account": "external-dns"}
        },
    }
)


@pytest.fixture
def host(plugin_host):
    return plugin_host(("aws", dokaseca_aws.plugin))


def test_prepared_ids_and_addon_roles_become_gitops_bridge_annotations(host):
    (cluster,) = parse_fleet(FLEET.text(), host).clusters
    metadata = cluster_metadata(host, cluster, PREPARED)
    assert metadata.labels["aws_cluster_name"] == "web-1"
    annotations = metadata.annotations
    assert {k: annotations[k] for k in ("aws_cluster_name", "aws_region", "aws_account_id", "aws_vpc_id")} == {
        "aws_cluster_name": "web-1",
        "aws_region": "eu-west-1",
        "aws_account_id": "123456789012",
        "aws_vpc_id": "vpc-0aa",
    }
    assert annotations["external_dns_iam_role_arn"] == "arn:aws:iam::123456789012:role/web-1-external_dns"
    assert (annotations["external_dns_namespace"], annotations["external_dns_service_account"]) == ("external-dns", "external-dns")


def test_offline_the_vpc_comes_from_the_fleet_file_and_no_account_is_guessed(host):
    (cluster,) = parse_fleet(FLEET.text(FLEET.with_config(vpcId="vpc-0bb")), host).clusters
    annotations = cluster_metadata(host, cluster).annotations
    assert annotations["aws_vpc_id"] == "vpc-0bb"
    assert "aws_account_id" not in annotations


def test_static_identity_secret_names_stay_out_of_the_metadata(host):
    config = FLEET.with_config(identity={"kind": "static", "name": "platform", "secretName": "platform-aws-keys"})
    (cluster,) = parse_fleet(FLEET.text(config), host).clusters
    metadata = cluster_metadata(host, cluster, PREPARED)
    assert "platform-aws-keys" not in repr(metadata)
