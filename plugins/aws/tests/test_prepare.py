"""``prepare`` against moto's server on loopback, through the real boto3.

Clusters come from fleet files through the real loader and plugin host; the
stand-in's proxy counts every call, injects faults and holds a call while a
client process is killed (see tests/support/aws_stand_in.py).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import yaml
from aws_stand_in import ACCOUNT_ID, is_mutating

from dokaseca.errors import ProviderError
from dokaseca.testing import OneClusterFleet, fleet_clusters, prepare_text, prepared

import dokaseca_aws.plugin
from dokaseca_aws import iam_policies
from dokaseca_aws.prepare import forget
from dokaseca_aws.tags import tag as _tag

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIR0l92jLFwdmDz+m6sCW1WywguLXXzRit81Q8TCS3Rf ops@acme"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO8DEbpRgDEv6+XuqvVA84zbtJEGUV0Z6ynTDWoNoK9p"
BASE = {"sshKeyName": "platform", "sshPublicKey": KEY, "network": {"create": True}, "amiLookup": {"owner": ACCOUNT_ID}}
FLEET = OneClusterFleet("aws", BASE, name="web-1", environment="dev", region="eu-west-1")
NETWORK = "acme-dev"  # <fleet>-<environment>
ROLE_TAG = "sigs.k8s.io/cluster-api-provider-aws/role"
CAPA = iam_policies.SUFFIX

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def host(plugin_host):
    return plugin_host(("aws", dokaseca_aws.plugin))


def again(aws) -> None:
    """As a new process would: nothing remembered, fresh call records."""
    forget()
    aws.clear_calls()


def network_state(network: str = NETWORK) -> dict[str, Any]:
    """What exists in moto for ``network``, by names rather than ids, so two runs compare."""
    ec2 = boto3.client("ec2")
    by_tag = [{"Name": "tag:dokaseca.io/network", "Values": [network]}]
    vpcs = ec2.describe_vpcs(Filters=by_tag)["Vpcs"]
    subnets = ec2.describe_subnets(Filters=by_tag)["Subnets"]
    gateways = ec2.describe_internet_gateways(Filters=by_tag)["InternetGateways"]
    nats = [
        n
        for n in ec2.describe_nat_gateways()["NatGateways"]
        if n["State"] in ("pending", "available") and _tag(n, "dokaseca.io/network") == network
    ]
    tables = ec2.describe_route_tables(Filters=by_tag)["RouteTables"]
    addresses = ec2.describe_addresses(Filters=by_tag)["Addresses"]
    name = {"local": "local"}
    for items, key in ((vpcs, "VpcId"), (subnets, "SubnetId"), (gateways, "InternetGatewayId"), (nats, "NatGatewayId")):
        name.update({item[key]: _tag(item, "Name") for item in items})
    return {
        "vpcs": sorted((_tag(v, "Name"), v["CidrBlock"]) for v in vpcs),
        "subnets": sorted((_tag(s, "Name"), s["CidrBlock"], s["AvailabilityZone"], _tag(s, ROLE_TAG)) for s in subnets),
        "internet_gateways": sorted((_tag(g, "Name"), tuple(name.get(a["VpcId"]) for a in g.get("Attachments") or ())) for g in gateways),
        "nat_gateways": sorted((_tag(n, "Name"), name[n["SubnetId"]]) for n in nats),
        "elastic_ips": sorted(_tag(a, "Name") for a in addresses),
        "route_tables": sorted(
            (
                _tag(t, "Name"),
                tuple(sorted((r["DestinationCidrBlock"], name.get(r.get("GatewayId") or r.get("NatGatewayId"))) for r in t["Routes"])),
                tuple(sorted(name[a["SubnetId"]] for a in t.get("Associations") or () if a.get("SubnetId"))),
            )
            for t in tables
        ),
    }


def iam_state() -> dict[str, Any]:
    iam = boto3.client("iam")
    return {
        "roles": {
            r["RoleName"]: sorted(p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=r["RoleName"])["AttachedPolicies"])
            for r in iam.list_roles()["Roles"]
        },
        "instance_profiles": {
            p["InstanceProfileName"]: [r["RoleName"] for r in p["Roles"]] for p in iam.list_instance_profiles()["InstanceProfiles"]
        },
        "policy_versions": {
            p["PolicyName"]: len(iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"])
            for p in iam.list_policies(Scope="Local")["Policies"]
        },
    }


# -- a first run, a second run, a dry run -------------------------------------


def test_first_run_makes_everything_tagged_as_it_is_made(host, aws):
    result = prepare_text(host, FLEET.text())

    outputs = result.outputs
    assert outputs["account_id"] == ACCOUNT_ID and outputs["region"] == "eu-west-1"
    assert outputs["role_arns"] == {
        "control_plane": f"arn:aws:iam::{ACCOUNT_ID}:role/control-plane{CAPA}",
        "nodes": f"arn:aws:iam::{ACCOUNT_ID}:role/nodes{CAPA}",
        "controllers": f"arn:aws:iam::{ACCOUNT_ID}:role/controllers{CAPA}",
    }
    assert outputs["ssh_key_name"] == "platform"
    assert outputs["ami_id"] == "ami-00000000000000002"  # the newest x86_64 ubuntu-24.04 image of v1.33.1
    assert [(s["availability_zone"], s["public"]) for s in outputs["subnets"]] == [
        (zone, public) for zone in ("eu-west-1a", "eu-west-1b", "eu-west-1c") for public in (False, True)
    ]
    assert outputs["subnet_ids"] == [s["id"] for s in outputs["subnets"]]
    assert "create VPC 10.0.0.0/16 acme-dev" in result.actions
    assert f"create IAM role nodes{CAPA}" in result.actions
    assert "import EC2 key pair platform" in result.actions

    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[outputs["vpc_id"]])["Vpcs"][0]
    assert (_tag(vpc, "Name"), _tag(vpc, "dokaseca.io/network"), _tag(vpc, "dokaseca.io/environment")) == ("acme-dev", "acme-dev", "dev")
    assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is True
    for subnet in ec2.describe_subnets(SubnetIds=outputs["subnet_ids"])["Subnets"]:
        role = _tag(subnet, ROLE_TAG)
        elb = "kubernetes.io/role/elb" if role == "public" else "kubernetes.io/role/internal-elb"
        assert _tag(subnet, elb) == "1" and _tag(subnet, "dokaseca.io/network") == NETWORK
        assert _tag(subnet, "Name") == f"acme-dev-{role}-{subnet['AvailabilityZone']}"
    state = network_state()
    assert len(state["vpcs"]) == 1 and len(state["subnets"]) == 6
    assert state["internet_gateways"] == [("acme-dev", ("acme-dev",))]
    assert state["nat_gateways"] == [("acme-dev-eu-west-1a", "acme-dev-public-eu-west-1a")]  # natGateways: single
    assert state["elastic_ips"] == ["acme-dev-eu-west-1a"]
    tables = {name: (routes, associated) for name, routes, associated in state["route_tables"]}
    assert tables["acme-dev-public"] == (
        (("0.0.0.0/0", "acme-dev"), ("10.0.0.0/16", "local")),
        ("acme-dev-public-eu-west-1a", "acme-dev-public-eu-west-1b", "acme-dev-public-eu-west-1c"),
    )
    assert tables["acme-dev-private-eu-west-1c"] == (
        (("0.0.0.0/0", "acme-dev-eu-west-1a"), ("10.0.0.0/16", "local")),
        ("acme-dev-private-eu-west-1c",),
    )
    assert len(tables) == 4

    iam = iam_state()
    assert iam["roles"][f"control-plane{CAPA}"] == sorted([f"control-plane{CAPA}", f"controllers{CAPA}"])
    assert iam["instance_profiles"] == {name: [name] for name in (f"control-plane{CAPA}", f"nodes{CAPA}", f"controllers{CAPA}")}
    assert boto3.client("ec2").describe_key_pairs(KeyNames=["platform"])["KeyPairs"]
    # Every resource got its tags in the call that made it: nothing was tagged afterwards.
    assert "CreateTags" not in aws.mutating() and "TagRole" not in aws.mutating()


def test_a_second_run_makes_no_mutating_call(host, aws):
    first = prepare_text(host, FLEET.text())
    again(aws)

    second = prepare_text(host, FLEET.text())

    assert second.actions == ()
    assert aws.operations() and aws.mutating() == []
    assert second.outputs == first.outputs


def test_a_dry_run_lists_exactly_what_the_real_run_then_does(host, aws):
    planned = prepare_text(host, FLEET.text(), dry_run=True)

    assert aws.mutating() == []
    assert network_state()["vpcs"] == [] and iam_state()["roles"] == {}
    assert "vpc_id" not in planned.outputs  # nothing to report yet
    again(aws)
    done = prepare_text(host, FLEET.text())
    assert planned.actions == done.actions
    assert len(aws.mutating()) == len(done.actions)


def test_a_network_changed_by_hand_is_brought_back(host, aws):
    outputs = prepare_text(host, FLEET.text()).outputs
    clean = network_state()
    ec2 = boto3.client("ec2")
    by_tag = [{"Name": "tag:dokaseca.io/network", "Values": [NETWORK]}]
    ec2.modify_vpc_attribute(VpcId=outputs["vpc_id"], EnableDnsHostnames={"Value": False})
    tables = {_tag(t, "Name"): t for t in ec2.describe_route_tables(Filters=by_tag)["RouteTables"]}
    gateway = next(r["GatewayId"] for r in tables["acme-dev-public"]["Routes"] if r["GatewayId"].startswith("igw-"))
    ec2.replace_route(
        RouteTableId=tables["acme-dev-private-eu-west-1c"]["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway
    )
    moved = next(a for a in tables["acme-dev-private-eu-west-1b"]["Associations"] if a.get("SubnetId"))
    ec2.replace_route_table_association(
        AssociationId=moved["RouteTableAssociationId"], RouteTableId=tables["acme-dev-public"]["RouteTableId"]
    )
    again(aws)

    result = prepare_text(host, FLEET.text())

    assert result.actions == (
        "turn on DNS hostnames in VPC acme-dev",
        "move subnet acme-dev-private-eu-west-1b to route table acme-dev-private-eu-west-1b",
        "replace the default route of route table acme-dev-private-eu-west-1c: via NAT gateway acme-dev-eu-west-1a",
    )
    assert network_state() == clean


# -- crash safety, retries, concurrency -----------------------------------------


@pytest.mark.parametrize(
    "operation, nth, forward",
    [
        ("CreateSubnet", 3, False),  # the call never reached AWS
        ("CreateNatGateway", 1, True),  # AWS made the gateway; the answer never reached the client
    ],
)
def test_a_run_killed_half_way_is_finished_by_the_next(host, aws, tmp_path, operation, nth, forward):
    prepare_text(host, FLEET.text())
    clean_network, clean_iam = network_state(), iam_state()
    mutating = aws.mutating()
    k = [i for i, op in enumerate(mutating, start=1) if op == operation][nth - 1]
    aws.reset()
    forget()

    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(FLEET.text())
    hold = aws.hold_at(k, forward=forward)
    command = [sys.executable, "-m", "dokaseca", "prepare", str(fleet_file), "--state-dir", str(tmp_path / "state")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert hold.reached.wait(30), "the run never got to the call to hold"
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait()
        hold.release()
    assert hold.what == operation
    assert len(network_state()["vpcs"]) == 1 and network_state() != clean_network  # half-made

    again(aws)
    plan = prepare_text(host, FLEET.text(), dry_run=True)
    again(aws)
    rerun = prepare_text(host, FLEET.text())

    assert rerun.actions == plan.actions and 0 < len(rerun.actions) < len(mutating)
    assert network_state() == clean_network
    assert iam_state() == clean_iam


def test_transient_faults_are_retried_by_botocore(host, aws):
    aws.fail_next(1, status=400, code="Throttling", operation="CreatePolicy")
    aws.fail_next(1, status=503, code="ServiceUnavailable", operation="CreateVpc")

    result = prepare_text(host, FLEET.text())

    operations = aws.operations()
    assert operations.count("CreateVpc") == 2 and operations.count("CreatePolicy") == 4  # 3 policies, one of them twice
    assert len(network_state()["vpcs"]) == 1 and len(iam_state()["policy_versions"]) == 3
    assert result.outputs["vpc_id"]


def two_clusters(config: dict[str, Any] = BASE) -> str:
    fleet = yaml.safe_load(FLEET.text(config))
    second = copy.deepcopy(fleet["clusters"][0])
    second["name"] = "web-2"
    fleet["clusters"].append(second)
    return yaml.safe_dump(fleet, sort_keys=False)


def test_clusters_prepared_at_once_share_the_network_and_make_iam_once(host, aws):
    both = fleet_clusters(host, two_clusters())
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: prepared(host, c), both))

    assert results[0].outputs["vpc_id"] == results[1].outputs["vpc_id"]
    assert results[0].outputs["subnets"] == results[1].outputs["subnets"]
    operations = aws.operations()
    assert [operations.count(op) for op in ("GetCallerIdentity", "CreateVpc", "CreatePolicy", "CreateRole", "ImportKeyPair")] == [
        1,
        1,
        3,
        3,
        1,
    ]
    # Each change is reported once, by the cluster whose thread made it.
    lines = results[0].actions + results[1].actions
    assert len(lines) == len(set(lines)) == len(aws.mutating())
    assert len(network_state()["vpcs"]) == 1


def test_each_environment_gets_a_network_of_its_own(host):
    fleet = yaml.safe_load(two_clusters())
    fleet["clusters"][1]["environment"] = "prod"
    dev, prod = fleet_clusters(host, yaml.safe_dump(fleet))
    assert prepared(host, dev).outputs["vpc_id"] != prepared(host, prod).outputs["vpc_id"]

    for network in ("acme-dev", "acme-prod"):
        state = network_state(network)
        assert state["nat_gateways"] == [(f"{network}-eu-west-1a", f"{network}-public-eu-west-1a")]
        private = [routes for name, routes, _ in state["route_tables"] if "private" in name]
        assert private and all(("0.0.0.0/0", f"{network}-eu-west-1a") in routes for routes in private)


def test_nat_gateways_per_zone_or_none(host):
    per_zone = FLEET.with_config(network={"create": True, "natGateways": "per-zone", "availabilityZoneCount": 2})
    prepare_text(host, FLEET.text(per_zone))
    none = FLEET.with_config(network={"create": True, "natGateways": "none", "availabilityZoneCount": 2})
    prepare_text(host, FLEET.text(none, environment="prod"))

    dev, prod = network_state("acme-dev"), network_state("acme-prod")
    assert dev["nat_gateways"] == [
        ("acme-dev-eu-west-1a", "acme-dev-public-eu-west-1a"),
        ("acme-dev-eu-west-1b", "acme-dev-public-eu-west-1b"),
    ]
    routes = {name: dict(r) for name, r, _ in dev["route_tables"]}
    assert routes["acme-dev-private-eu-west-1b"]["0.0.0.0/0"] == "acme-dev-eu-west-1b"
    assert prod["nat_gateways"] == [] and prod["elastic_ips"] == []
    assert [dict(r) for name, r, _ in prod["route_tables"] if "private" in name] == [{"10.0.0.0/16": "local"}] * 2
    assert len(prod["subnets"]) == 4


def test_clusters_sharing_a_network_must_agree_on_it(host):
    fleet = yaml.safe_load(two_clusters())
    fleet["clusters"][1]["aws"] = {**BASE, "network": {"create": True, "natGateways": "per-zone"}}
    first, second = fleet_clusters(host, yaml.safe_dump(fleet))
    prepared(host, first)
    with pytest.raises(ProviderError, match="network 'acme-dev' is shared with a cluster that asks for other settings"):
        prepared(host, second)


# -- errors a user can act on -----------------------------------------------------


def test_a_misspelt_region_is_caught_before_any_call(host, aws):
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, FLEET.text(region="eu-wset-1"))
    assert "region 'eu-wset-1' is not an AWS region" in str(caught.value) and "did you mean 'eu-west-1'?" in str(caught.value)
    assert aws.operations() == []


def test_missing_credentials_say_what_was_tried(host, aws, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, FLEET.text())
    message = str(caught.value)
    assert message.startswith("cluster web-1: no AWS credentials found")
    assert all(where in message for where in ("aws.profile", "AWS_ACCESS_KEY_ID", "~/.aws/config", "aws sso login"))
    assert aws.operations() == []


def test_half_set_credentials_name_the_missing_variable_not_the_key(host, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHALFSETEXAMPLE01")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, FLEET.text())
    assert "AWS_SECRET_ACCESS_KEY" in str(caught.value) and "AKIAHALFSETEXAMPLE01" not in str(caught.value)


def test_an_unknown_profile_is_named(host):
    with pytest.raises(ProviderError, match=r"aws.profile 'ops-admin' is not a profile in ~/.aws/config"):
        prepare_text(host, FLEET.text(FLEET.with_config(profile="ops-admin")))


def test_an_aws_error_names_cluster_call_and_code_and_never_a_key(host, aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAVISIBLEKEYID0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY")
    message_with_keys = "User with key AKIAVISIBLEKEYID0001 (secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY) may not"
    aws.fail_next(1, status=403, code="AccessDenied", message=message_with_keys, operation="CreateVpc")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, FLEET.text())
    message = str(caught.value)
    assert message.startswith("cluster web-1: AWS CreateVpc failed: AccessDenied: User with key <redacted>")
    assert "AKIAVISIBLEKEYID0001" not in message and "SECRETKEY" not in message
    assert "README" in message


# -- IAM -------------------------------------------------------------------------------


def test_an_account_bootstrapped_by_clusterawsadm_is_used_as_it_is(host, aws):
    iam = boto3.client("iam")
    document = json.dumps(iam_policies.document({"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}))
    trust = json.dumps(iam_policies.trusted_by_service("ec2.amazonaws.com"))
    for name in ("control-plane", "nodes", "controllers"):
        policy = iam.create_policy(PolicyName=name + CAPA, PolicyDocument=document)["Policy"]
        iam.create_role(RoleName=name + CAPA, AssumeRolePolicyDocument=trust)
        iam.attach_role_policy(RoleName=name + CAPA, PolicyArn=policy["Arn"])
        iam.create_instance_profile(InstanceProfileName=name + CAPA)
        iam.add_role_to_instance_profile(InstanceProfileName=name + CAPA, RoleName=name + CAPA)
    before = iam_state()
    aws.clear_calls()

    result = prepare_text(host, FLEET.text())

    assert [op for op in aws.operations("iam") if is_mutating(op)] == []
    assert not [line for line in result.actions if "IAM" in line]
    assert iam_state() == before
    assert result.outputs["role_arns"]["nodes"] == f"arn:aws:iam::{ACCOUNT_ID}:role/nodes{CAPA}"


def test_a_drifted_policy_of_ours_gets_a_new_default_version_within_the_limit_of_five(host, aws):
    prepare_text(host, FLEET.text())
    iam = boto3.client("iam")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/controllers{CAPA}"
    for action in ("ec2:DescribeA", "ec2:DescribeB", "ec2:DescribeC", "ec2:DescribeD"):
        edited = iam_policies.document({"Effect": "Allow", "Action": [action], "Resource": "*"})
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(edited), SetAsDefault=True)
    again(aws)

    result = prepare_text(host, FLEET.text())

    assert result.actions == (
        f"delete IAM policy controllers{CAPA} version v1 (AWS keeps 5)",
        f"update IAM policy controllers{CAPA} (new default version)",
    )
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    default = next(v for v in versions if v["IsDefaultVersion"])
    assert len(versions) == 5 and default["VersionId"] == "v6"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v6")["PolicyVersion"]["Document"] == iam_policies.controllers()


def test_with_bootstrap_iam_off_the_instance_profiles_must_exist(host, aws):
    config = FLEET.with_config(bootstrapIAM=False, nodesInstanceProfile="acme-nodes")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, FLEET.text(config))
    assert f"IAM instance profile 'control-plane{CAPA}' (aws.controlPlaneInstanceProfile) does not exist" in str(caught.value)

    iam = boto3.client("iam")
    trust = json.dumps(iam_policies.trusted_by_service("ec2.amazonaws.com"))
    for name in (f"control-plane{CAPA}", "acme-nodes"):
        iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=trust)
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=f"{name}-role")
    again(aws)

    result = prepare_text(host, FLEET.text(config))

    assert result.outputs["role_arns"] == {
        "control_plane": f"arn:aws:iam::{ACCOUNT_ID}:role/control-plane{CAPA}-role",
        "nodes": f"arn:aws:iam::{ACCOUNT_ID}:role/acme-nodes-role",
    }
    assert [op for op in aws.operations("iam") if is_mutating(op)] == []


def test_addon_roles_of_a_kubeadm_cluster_are_assumed_from_the_nodes_role(host, aws):
    route53 = "arn:aws:iam::aws:policy/AmazonRoute53FullAccess"
    config = FLEET.with_config(
        addonRoles={
            "external_dns": {"policyArns": [route53]},
            "cert_manager": {"policyArns": [route53], "namespace": "cert-manager", "serviceAccount": "cm"},
        }
    )
    result = prepare_text(host, FLEET.text(config))

    assert result.outputs["addon_roles"] == {
        "cert_manager": {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/web-1-cert_manager", "namespace": "cert-manager", "service_account": "cm"},
        "external_dns": {
            "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/web-1-external_dns",
            "namespace": "kube-system",
            "service_account": "external-dns",
        },
    }
    iam = boto3.client("iam")
    statement = iam.get_role(RoleName="web-1-external_dns")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": result.outputs["role_arns"]["nodes"]}}
    assert iam_state()["roles"]["web-1-external_dns"] == ["AmazonRoute53FullAccess"]

    read_only = "arn:aws:iam::aws:policy/AmazonRoute53ReadOnlyAccess"
    again(aws)
    changed = prepare_text(host, FLEET.text(FLEET.with_config(addonRoles={"external_dns": {"policyArns": [read_only]}})))
    assert changed.actions == (
        "attach IAM policy AmazonRoute53ReadOnlyAccess to role web-1-external_dns",
        "detach IAM policy AmazonRoute53FullAccess from role web-1-external_dns",
    )


def test_an_eks_cluster_gets_the_eks_roles_and_pod_identity_trust(host, aws):
    config = {
        "network": {"create": True},
        "addonRoles": {"external_dns": {"policyArns": ["arn:aws:iam::aws:policy/AmazonRoute53FullAccess"]}},
    }
    result = prepare_text(host, FLEET.text(config, flavor="eks"))

    roles = iam_state()["roles"]
    assert roles[f"eks-controlplane{CAPA}"] == ["AmazonEKSClusterPolicy"]
    assert roles[f"eks-nodegroup{CAPA}"] == ["AmazonEC2ContainerRegistryReadOnly", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"]
    assert f"controllers-eks{CAPA}" in roles[f"controllers{CAPA}"]
    assert set(result.outputs["role_arns"]) == {"control_plane", "nodes", "controllers", "eks_control_plane", "eks_nodegroup"}
    assert "ami_id" not in result.outputs  # managed node groups bring their own images
    trust = boto3.client("iam").get_role(RoleName="web-1-external_dns")["Role"]["AssumeRolePolicyDocument"]
    assert trust == iam_policies.trusted_by_service("pods.eks.amazonaws.com", actions=("sts:AssumeRole", "sts:TagSession"))


def test_an_eks_dry_run_lists_exactly_what_the_real_run_then_does(host, aws):
    """The EKS policy goes onto roles the same run makes: planned once, not twice."""
    text = FLEET.text(flavor="eks")
    planned = prepare_text(host, text, dry_run=True)

    assert aws.mutating() == []
    again(aws)
    done = prepare_text(host, text)
    assert planned.actions == done.actions
    assert len(aws.mutating()) == len(done.actions)
    assert done.actions.count(f"create IAM role controllers{CAPA}") == 1


# -- key pair and image -----------------------------------------------------------------


def test_a_key_pair_with_another_key_is_never_replaced(host, aws):
    boto3.client("ec2").import_key_pair(KeyName="platform", PublicKeyMaterial=OTHER_KEY.encode())
    aws.clear_calls()
    with pytest.raises(ProviderError, match="EC2 key pair 'platform' in eu-west-1 holds a different public key than aws.sshPublicKey"):
        prepare_text(host, FLEET.text())
    assert "ImportKeyPair" not in aws.operations()


def test_a_key_pair_named_without_a_key_must_exist(host, aws):
    config = FLEET.with_config(sshPublicKey=None)
    with pytest.raises(
        ProviderError, match=r"EC2 key pair 'platform' \(aws.sshKeyName\) does not exist in eu-west-1; set aws.sshPublicKey"
    ):
        prepare_text(host, FLEET.text(config))

    boto3.client("ec2").import_key_pair(KeyName="platform", PublicKeyMaterial=OTHER_KEY.encode())
    again(aws)
    result = prepare_text(host, FLEET.text(config))
    assert result.outputs["ssh_key_name"] == "platform" and "ImportKeyPair" not in aws.operations()


def test_the_ami_lookup_takes_the_newest_image_of_the_architecture(host):
    arm = FLEET.with_config(amiLookup={"owner": ACCOUNT_ID, "architecture": "arm64"})
    assert prepare_text(host, FLEET.text(arm)).outputs["ami_id"] == "ami-00000000000000003"
    pinned = FLEET.with_config(amiId="ami-0123456789abcdef0")
    assert prepare_text(host, FLEET.text(pinned)).outputs["ami_id"] == "ami-0123456789abcdef0"


def test_no_image_found_says_how_to_fix_it_before_anything_is_made(host, aws):
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, FLEET.text(kubernetes_version="v1.31.0"))
    message = str(caught.value)
    assert "no available x86_64 AMI named 'capa-ami-ubuntu-24.04-?1.31.0-*'" in message
    assert "set aws.amiId" in message and "aws.amiLookup" in message
    assert aws.mutating() == [], "a fleet value that cannot work must not leave IAM or a network behind"


def test_importing_prepare_loads_no_aws_sdk():
    check = "import sys, dokaseca_aws.prepare; print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "[]"


# -- a network the fleet brings ------------------------------------------------


def own_network() -> tuple[str, list[str], str]:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    other_vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    stray = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.30.0.0/24")["Subnet"]["SubnetId"]
    return vpc, subnets, stray


def test_a_network_the_fleet_brings_is_checked_and_never_changed(host, aws):
    vpc, subnets, _ = own_network()
    again(aws)
    config = {**{k: v for k, v in BASE.items() if k != "network"}, "vpcId": vpc, "subnetIds": subnets}
    result = prepare_text(host, FLEET.text(config))
    assert (result.outputs["vpc_id"], result.outputs["subnet_ids"]) == (vpc, subnets)
    assert not [op for op in aws.mutating() if "Vpc" in op or "Subnet" in op or "Route" in op or "Gateway" in op]


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda vpc, subnets, stray: {"vpcId": "vpc-0000000000deadbee"}, "aws.vpcId 'vpc-0000000000deadbee' is not a VPC in eu-west-1"),
        (lambda vpc, subnets, stray: {"vpcId": vpc, "subnetIds": [subnets[0], "subnet-0000000000deadbee"]}, "aws.subnetIds[1] 'subnet-0000000000deadbee' is not a subnet"),
        (lambda vpc, subnets, stray: {"vpcId": vpc, "subnetIds": [stray]}, "aws.subnetIds[0] {stray!r} is in"),
    ],
)
def test_a_wrong_vpc_or_subnet_is_named_before_anything_is_made(host, aws, wrong, message):
    vpc, subnets, stray = own_network()
    again(aws)
    config = {**{k: v for k, v in BASE.items() if k != "network"}, **wrong(vpc, subnets, stray)}
    with pytest.raises(ProviderError, match=re.escape(message.format(stray=stray))):
        prepare_text(host, FLEET.text(config))
    assert aws.mutating() == [], "read-only checks come before anything is made"
