"""Rendering of AWS clusters (kubeadm and EKS, classic and ClusterClass):
content, CRD validity, cross-field checks, and agreement with CAPA's own
cluster templates."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from dokaseca.crds import CRDSchemas
from dokaseca.manifests import dump_all
from dokaseca.models import InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.testing import OneClusterFleet, by_kind, clusterctl_template, content_named, extra_args, one

import dokaseca_aws.plugin
from dokaseca_aws.config import CAPA_AMI_NAME_FORMAT
from dokaseca_aws.eks import is_arm64
from dokaseca_aws.manifests import capa_name_format

CAPA = "infrastructure.cluster.x-k8s.io/v1beta2"
CAPA_CONTROL_PLANE = "controlplane.cluster.x-k8s.io/v1beta2"
CONTROL_PLANE_PROFILE = "control-plane.cluster-api-provider-aws.sigs.k8s.io"
NODES_PROFILE = "nodes.cluster-api-provider-aws.sigs.k8s.io"
ROLE_ARN = "arn:aws:iam::123456789012:role/capa-workloads"

BASE_CONFIG: dict[str, Any] = {"sshKeyName": "platform", "instanceType": "m6i.large"}

FLEET = OneClusterFleet("aws", BASE_CONFIG, name="prod-1", region="eu-west-1")
with_config, render, problems_of = FLEET.with_config, FLEET.render, FLEET.problems

ALL_VARIANTS = [("kubeadm", "classic"), ("kubeadm", "clusterclass"), ("eks", "classic"), ("eks", "clusterclass")]


@pytest.fixture
def host(plugin_host: Callable[..., PluginHost]) -> PluginHost:
    return plugin_host(("aws", dokaseca_aws.plugin))


def machine(objects: list[dict], base: str) -> dict:
    return content_named(objects, "AWSMachineTemplate", base)["spec"]["template"]["spec"]


def capa_kinds(objects: list[dict]) -> set[str]:
    groups = ("infrastructure.cluster.x-k8s.io/", "controlplane.cluster.x-k8s.io/")
    return {o["kind"] for o in objects if o["apiVersion"].startswith(groups) and not o["kind"].startswith("Kubeadm")}


def network_of(objects: list[dict]) -> dict:
    """The network block of the AWSCluster or AWSManagedControlPlane."""
    holders = by_kind(objects, "AWSCluster") + by_kind(objects, "AWSManagedControlPlane")
    assert len(holders) == 1
    return holders[0]["spec"].get("network", {})


# -- kubeadm, classic ------------------------------------------------------------------


def test_kubeadm_cluster_renders_valid_capa_objects(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(host, workers=[{"name": "general", "replicas": 2}, {"name": "gpu", "replicas": 1, "machineSize": "g5.xlarge"}])

    assert crd_schemas.validate_all(objects) == []
    aws_cluster = one(objects, "AWSCluster", "prod-1")
    assert (aws_cluster["apiVersion"], aws_cluster["metadata"]["namespace"]) == (CAPA, "prod")
    assert aws_cluster["spec"] == {
        "region": "eu-west-1",
        "controlPlaneLoadBalancer": {"loadBalancerType": "nlb", "healthCheckProtocol": "HTTPS", "scheme": "internet-facing"},
        "sshKeyName": "platform",
    }
    assert machine(objects, "prod-1-control-plane") == {
        "iamInstanceProfile": CONTROL_PLANE_PROFILE,
        "instanceType": "m6i.large",
        "sshKeyName": "platform",
    }
    assert machine(objects, "prod-1-general")["instanceType"] == "m6i.large"
    assert machine(objects, "prod-1-gpu") == {"iamInstanceProfile": NODES_PROFILE, "instanceType": "g5.xlarge", "sshKeyName": "platform"}

    kcp = one(objects, "KubeadmControlPlane", "prod-1-control-plane")
    assert (
        kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"]
        == content_named(objects, "AWSMachineTemplate", "prod-1-control-plane")["metadata"]["name"]
    )
    for pool in ("general", "gpu"):
        deployment = one(objects, "MachineDeployment", f"prod-1-{pool}")
        assert (
            deployment["spec"]["template"]["spec"]["infrastructureRef"]["name"]
            == content_named(objects, "AWSMachineTemplate", f"prod-1-{pool}")["metadata"]["name"]
        )
    assert one(objects, "Cluster")["spec"]["infrastructureRef"] == {
        "apiGroup": "infrastructure.cluster.x-k8s.io",
        "kind": "AWSCluster",
        "name": "prod-1",
    }
    # The controller's own credentials: no identity object, no reference.
    assert not [o for o in objects if o["kind"].endswith("Identity")]
    assert "identityRef" not in aws_cluster["spec"]


def test_kubeadm_objects_use_the_external_cloud_provider(host: PluginHost) -> None:
    objects = render(host)
    spec = one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    assert extra_args(spec["clusterConfiguration"]["controllerManager"]["extraArgs"]) == {"cloud-provider": "external"}
    worker = content_named(objects, "KubeadmConfigTemplate", "prod-1-general")["spec"]["template"]["spec"]
    for registration in (
        spec["initConfiguration"]["nodeRegistration"],
        spec["joinConfiguration"]["nodeRegistration"],
        worker["joinConfiguration"]["nodeRegistration"],
    ):
        assert registration["name"] == "{{ ds.meta_data.local_hostname }}"
        assert extra_args(registration["kubeletExtraArgs"]) == {"cloud-provider": "external"}


def test_instance_types_come_from_the_block_the_control_plane_and_the_pools(host: PluginHost) -> None:
    objects = render(
        host,
        with_config(instanceType="m6i.xlarge", rootVolumeSize=120),
        workers=[{"name": "general", "replicas": 2}, {"name": "arm", "replicas": 1, "machineSize": "m7g.large"}],
        controlPlane={"machineSize": "c6i.large"},
    )
    assert machine(objects, "prod-1-control-plane")["instanceType"] == "c6i.large"
    assert machine(objects, "prod-1-general")["instanceType"] == "m6i.xlarge"
    assert machine(objects, "prod-1-arm")["instanceType"] == "m7g.large"
    for base in ("prod-1-control-plane", "prod-1-general", "prod-1-arm"):
        assert machine(objects, base)["rootVolume"] == {"size": 120}
    # aws.controlPlaneInstanceType is the AWS-specific override of controlPlane.machineSize.
    objects = render(host, with_config(controlPlaneInstanceType="m6i.2xlarge"), controlPlane={"machineSize": "c6i.large"})
    assert machine(objects, "prod-1-control-plane")["instanceType"] == "m6i.2xlarge"


def test_a_changed_pool_gets_a_new_template_and_the_others_keep_theirs(host: PluginHost) -> None:
    def names(size: str) -> dict[str, str]:
        objects = render(host, workers=[{"name": "general", "replicas": 2}, {"name": "batch", "replicas": 1, "machineSize": size}])
        return {
            base: content_named(objects, "AWSMachineTemplate", f"prod-1-{base}")["metadata"]["name"]
            for base in ("control-plane", "general", "batch")
        }

    before, again, after = names("c6i.large"), names("c6i.large"), names("c6i.xlarge")
    assert before == again
    assert after["batch"] != before["batch"]
    assert (after["control-plane"], after["general"]) == (before["control-plane"], before["general"])


def test_the_ami_comes_from_the_block_then_prepare_else_capa_looks_it_up(host: PluginHost) -> None:
    bases = ("prod-1-control-plane", "prod-1-general")
    prepared = InfraResult(outputs={"ami_id": "ami-0aaaaaaaaaaaaaaaa"})

    looked_up = render(host)
    assert all("ami" not in machine(looked_up, base) for base in bases)
    assert not {k for k in one(looked_up, "AWSCluster")["spec"] if k.startswith("imageLookup")}

    from_prepare = render(host, infra=prepared)
    assert [machine(from_prepare, base)["ami"] for base in bases] == [{"id": "ami-0aaaaaaaaaaaaaaaa"}] * 2

    explicit = render(host, with_config(amiId="ami-0bbbbbbbbbbbbbbbb", amiLookup={"owner": "111122223333"}), infra=prepared)
    assert [machine(explicit, base)["ami"] for base in bases] == [{"id": "ami-0bbbbbbbbbbbbbbbb"}] * 2
    # An AMI is known, so CAPA has nothing to look up.
    assert not {k for k in one(explicit, "AWSCluster")["spec"] if k.startswith("imageLookup")}


def test_a_changed_ami_lookup_is_handed_to_capa(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    lookup = {"owner": "111122223333", "baseOS": "flatcar-stable", "nameFormat": "acme-{base_os}-k8s-{kubernetes_version}-*"}
    objects = render(host, with_config(amiLookup=lookup))
    spec = one(objects, "AWSCluster")["spec"]
    assert (spec["imageLookupOrg"], spec["imageLookupBaseOS"], spec["imageLookupFormat"]) == (
        "111122223333",
        "flatcar-stable",
        "acme-{{.BaseOS}}-k8s-{{.K8sVersion}}-*",
    )
    assert crd_schemas.validate_all(objects) == []
    # Only what differs from the defaults, which are CAPA's own.
    spec = one(render(host, with_config(amiLookup={"owner": "111122223333"})), "AWSCluster")["spec"]
    assert {k: v for k, v in spec.items() if k.startswith("imageLookup")} == {"imageLookupOrg": "111122223333"}
    assert capa_name_format(CAPA_AMI_NAME_FORMAT) == "capa-ami-{{.BaseOS}}-?{{.K8sVersion}}-*"  # CAPA's DefaultAmiNameFormat


def test_private_api_endpoint(host: PluginHost) -> None:
    kubeadm = render(host, with_config(apiEndpoint="private"))
    assert one(kubeadm, "AWSCluster")["spec"]["controlPlaneLoadBalancer"]["scheme"] == "internal"
    for endpoint, expected in (("private", {"public": False, "private": True}), ("public", {"public": True, "private": False})):
        eks = render(host, with_config(apiEndpoint=endpoint), flavor="eks")
        assert one(eks, "AWSManagedControlPlane")["spec"]["endpointAccess"] == expected


def test_additional_tags_reach_every_resource_capa_makes(host: PluginHost) -> None:
    tags = {"team": "platform", "cost-center": "42"}
    assert one(render(host, with_config(additionalTags=tags)), "AWSCluster")["spec"]["additionalTags"] == {
        "cost-center": "42",
        "team": "platform",
    }
    eks = render(host, with_config(additionalTags=tags), flavor="eks")
    assert one(eks, "AWSManagedControlPlane")["spec"]["additionalTags"] == tags
    assert one(eks, "AWSManagedMachinePool")["spec"]["additionalTags"] == tags


# -- networks --------------------------------------------------------------------------


@pytest.mark.parametrize(("flavor", "mode"), ALL_VARIANTS)
def test_listed_zones_get_a_private_and_a_public_subnet_each_in_a_capa_made_vpc(
    host: PluginHost, crd_schemas: CRDSchemas, flavor: str, mode: str
) -> None:
    zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    objects = render(host, with_config(availabilityZones=zones), flavor=flavor, mode=mode)
    assert crd_schemas.validate_all(objects) == []
    holder = next(
        o for o in objects if o["kind"] in ("AWSCluster", "AWSClusterTemplate", "AWSManagedControlPlane", "AWSManagedControlPlaneTemplate")
    )
    spec = holder["spec"]["template"]["spec"] if mode == "clusterclass" else holder["spec"]
    network = spec["network"]
    assert network["vpc"] == {"cidrBlock": "10.0.0.0/16"}
    subnets = network["subnets"]
    assert sorted((s["availabilityZone"], s["isPublic"]) for s in subnets) == sorted((z, public) for z in zones for public in (False, True))
    blocks = [ipaddress.ip_network(s["cidrBlock"]) for s in subnets]
    assert all(block.subnet_of(ipaddress.ip_network("10.0.0.0/16")) for block in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    # Private subnets hold the nodes: they get the larger blocks.
    assert min(b.num_addresses for b, s in zip(blocks, subnets, strict=True) if not s["isPublic"]) > max(
        b.num_addresses for b, s in zip(blocks, subnets, strict=True) if s["isPublic"]
    )
    # Placeholder ids (CAPA makes these subnets and names them after the id).
    assert all(not s["id"].startswith("subnet-") and s["id"].startswith("prod-1-") for s in subnets)


def test_without_zones_capa_chooses_the_network(host: PluginHost) -> None:
    assert network_of(render(host)) == {}
    assert network_of(render(host, flavor="eks")) == {}
    # prepare makes the environment's network: offline, CAPA gets no subnets of ours.
    assert network_of(render(host, with_config(network={"create": True}, availabilityZones=["eu-west-1a", "eu-west-1b"]))) == {}


@pytest.mark.parametrize("flavor", ["kubeadm", "eks"])
def test_a_vpc_and_subnets_of_ones_own(host: PluginHost, flavor: str) -> None:
    config = with_config(vpcId="vpc-0123456789abcdef0", subnetIds=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"])
    assert network_of(render(host, config, flavor=flavor)) == {
        "vpc": {"id": "vpc-0123456789abcdef0"},
        "subnets": [{"id": "subnet-0aaaaaaaaaaaaaaa1"}, {"id": "subnet-0aaaaaaaaaaaaaaa2"}],
    }


@pytest.mark.parametrize("flavor", ["kubeadm", "eks"])
def test_the_network_prepare_made_is_used_in_the_listed_zones(host: PluginHost, flavor: str) -> None:
    subnets = [
        {"id": f"subnet-{kind}{zone}", "availability_zone": f"eu-west-1{zone}", "public": kind == "pub"}
        for zone in "abc"
        for kind in ("priv", "pub")
    ]
    infra = InfraResult(outputs={"vpc_id": "vpc-0feedfeedfeedfeed", "subnets": subnets})
    config = with_config(network={"create": True}, availabilityZones=["eu-west-1a", "eu-west-1c"])
    assert network_of(render(host, config, infra=infra, flavor=flavor)) == {
        "vpc": {"id": "vpc-0feedfeedfeedfeed"},
        "subnets": [
            {"id": "subnet-priva", "availabilityZone": "eu-west-1a", "isPublic": False},
            {"id": "subnet-puba", "availabilityZone": "eu-west-1a", "isPublic": True},
            {"id": "subnet-privc", "availabilityZone": "eu-west-1c", "isPublic": False},
            {"id": "subnet-pubc", "availabilityZone": "eu-west-1c", "isPublic": True},
        ],
    }
    # Without a zone list, every subnet of the network.
    assert len(network_of(render(host, with_config(network={"create": True}), infra=infra, flavor=flavor))["subnets"]) == 6
    # Ids alone, as prepare may report a network it found by id.
    ids_only = InfraResult(outputs={"vpc_id": "vpc-0feedfeedfeedfeed", "subnet_ids": ["subnet-1", "subnet-2"]})
    assert network_of(render(host, infra=ids_only, flavor=flavor))["subnets"] == [{"id": "subnet-1"}, {"id": "subnet-2"}]


# -- identities and credentials -------------------------------------------------------


@pytest.mark.parametrize(("flavor", "mode"), ALL_VARIANTS)
def test_identities_are_referenced_and_rendered_once(host: PluginHost, crd_schemas: CRDSchemas, flavor: str, mode: str) -> None:
    static = render(
        host, with_config(identity={"kind": "static", "name": "platform", "secretName": "platform-aws-keys"}), flavor=flavor, mode=mode
    )
    role = render(host, with_config(identity={"kind": "role", "name": "workloads", "roleArn": ROLE_ARN}), flavor=flavor, mode=mode)
    assert crd_schemas.validate_all(static) == [] and crd_schemas.validate_all(role) == []

    identity = one(static, "AWSClusterStaticIdentity", "platform")
    assert "namespace" not in identity["metadata"]  # cluster-scoped
    assert identity["spec"] == {"secretRef": "platform-aws-keys", "allowedNamespaces": {}}
    identity = one(role, "AWSClusterRoleIdentity", "workloads")
    assert identity["spec"] == {
        "roleARN": ROLE_ARN,
        "sourceIdentityRef": {"kind": "AWSClusterControllerIdentity", "name": "default"},
        "allowedNamespaces": {},
    }
    for objects, ref in (
        (static, {"kind": "AWSClusterStaticIdentity", "name": "platform"}),
        (role, {"kind": "AWSClusterRoleIdentity", "name": "workloads"}),
    ):
        holder = next(
            o
            for o in objects
            if o["kind"] in ("AWSCluster", "AWSClusterTemplate", "AWSManagedControlPlane", "AWSManagedControlPlaneTemplate")
        )
        spec = holder["spec"]["template"]["spec"] if mode == "clusterclass" else holder["spec"]
        assert spec["identityRef"] == ref
        kinds = [o["kind"] for o in objects]
        assert kinds.index(ref["kind"]) < kinds.index(holder["kind"])  # applied before what uses it


@pytest.mark.parametrize(("flavor", "mode"), ALL_VARIANTS)
def test_credentials_never_reach_rendered_output(
    host: PluginHost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flavor: str, mode: str
) -> None:
    access_key, secret_key, token = "AKIASENTINEL0000KEY1", "sentinel/secret/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "SENTINELSESSIONTOKEN"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[platform]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))

    for identity in ({"kind": "static", "name": "platform", "secretName": "platform-aws-keys"}, {"kind": "role", "roleArn": ROLE_ARN}, {}):
        config = with_config(profile="platform", identity=identity)
        text = dump_all(render(host, config, flavor=flavor, mode=mode))
        for value in (access_key, secret_key, token):
            assert value not in text
        assert "kind: Secret" not in text  # the static identity's Secret is referenced, never rendered


# -- EKS -----------------------------------------------------------------------------


def test_eks_classic_renders_a_managed_control_plane_and_node_groups(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(
        availabilityZones=["eu-west-1a", "eu-west-1b"],
        eks={
            "addons": [
                {"name": "vpc-cni", "version": "v1.19.5-eksbuild.1"},
                {"name": "coredns", "version": "v1.12.1-eksbuild.2", "configuration": '{"replicaCount": 3}'},
            ],
            "logging": ["apiServer", "audit"],
        },
    )
    workers = [
        {"name": "general", "replicas": 3},
        {
            "name": "batch",
            "minReplicas": 1,
            "maxReplicas": 10,
            "machineSize": "m7g.xlarge",
            "failureDomain": "eu-west-1b",
            "labels": {"workload": "batch"},
            "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}, {"key": "spot", "effect": "PreferNoSchedule"}],
        },
    ]
    objects = render(host, config, flavor="eks", workers=workers)

    assert crd_schemas.validate_all(objects) == []
    assert (
        not by_kind(objects, "KubeadmControlPlane")
        and not by_kind(objects, "MachineDeployment")
        and not by_kind(objects, "AWSMachineTemplate")
    )
    control_plane = one(objects, "AWSManagedControlPlane", "prod-1-control-plane")
    assert control_plane["apiVersion"] == CAPA_CONTROL_PLANE
    spec = control_plane["spec"]
    assert (spec["eksClusterName"], spec["region"], spec["sshKeyName"], spec["version"]) == ("prod-1", "eu-west-1", "platform", "v1.33.1")
    assert spec["addons"] == [
        {"name": "vpc-cni", "version": "v1.19.5-eksbuild.1"},
        {"name": "coredns", "version": "v1.12.1-eksbuild.2", "configuration": '{"replicaCount": 3}'},
    ]
    assert spec["logging"] == {"apiServer": True, "audit": True, "authenticator": False, "controllerManager": False, "scheduler": False}
    assert one(objects, "AWSManagedCluster", "prod-1")["spec"] == {}
    cluster = one(objects, "Cluster")["spec"]
    assert cluster["controlPlaneRef"] == {
        "apiGroup": "controlplane.cluster.x-k8s.io",
        "kind": "AWSManagedControlPlane",
        "name": "prod-1-control-plane",
    }
    assert cluster["infrastructureRef"] == {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "AWSManagedCluster", "name": "prod-1"}

    general = one(objects, "AWSManagedMachinePool", "prod-1-general")["spec"]
    assert general == {
        "instanceType": "m6i.large",
        "amiType": "AL2023_x86_64_STANDARD",
        "scaling": {"minSize": 3, "maxSize": 3},
        "availabilityZones": ["eu-west-1a", "eu-west-1b"],
    }
    batch = one(objects, "AWSManagedMachinePool", "prod-1-batch")["spec"]
    assert batch["amiType"] == "AL2023_ARM_64_STANDARD"  # a Graviton instance type
    assert batch["scaling"] == {"minSize": 1, "maxSize": 10}
    assert batch["availabilityZones"] == ["eu-west-1b"]
    assert batch["labels"] == {"workload": "batch"}
    assert batch["taints"] == [
        {"key": "dedicated", "value": "batch", "effect": "no-schedule"},
        {"key": "spot", "value": "", "effect": "prefer-no-schedule"},
    ]

    fixed, scaled = one(objects, "MachinePool", "prod-1-general"), one(objects, "MachinePool", "prod-1-batch")
    assert fixed["spec"]["replicas"] == 3 and "annotations" not in fixed["metadata"]
    assert "replicas" not in scaled["spec"]  # the autoscaler owns it
    assert scaled["metadata"]["annotations"] == {
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "1",
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "10",
    }
    template = scaled["spec"]["template"]["spec"]
    assert template["infrastructureRef"] == {
        "apiGroup": "infrastructure.cluster.x-k8s.io",
        "kind": "AWSManagedMachinePool",
        "name": "prod-1-batch",
    }
    assert template["bootstrap"] == {"dataSecretName": ""}
    assert template["version"] == "v1.33.1"


@pytest.mark.parametrize(
    ("instance_type", "arm64"),
    [
        ("m7g.large", True),
        ("c7gn.xlarge", True),
        ("r8gd.2xlarge", True),
        ("t4g.small", True),
        ("x2gd.medium", True),
        ("is4gen.large", True),
        ("g5g.xlarge", True),
        ("a1.large", True),
        ("m6i.large", False),
        ("g5.xlarge", False),  # a GPU family, not Graviton
        ("g4dn.xlarge", False),
        ("gr6.4xlarge", False),
        ("m7i-flex.large", False),
        ("c7a.large", False),
    ],
)
def test_managed_node_groups_get_the_image_of_their_instance_types_architecture(instance_type: str, arm64: bool) -> None:
    assert is_arm64(instance_type) is arm64


def test_an_empty_eks_pool_keeps_a_valid_maximum(host: PluginHost) -> None:
    objects = render(host, flavor="eks", workers=[{"name": "idle", "replicas": 0}])
    assert one(objects, "AWSManagedMachinePool")["spec"]["scaling"] == {"minSize": 0, "maxSize": 1}
    assert one(objects, "MachinePool")["spec"]["replicas"] == 0


def test_eks_clusterclass_renders_templates_and_nodeadm_nodes(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    workers = [
        {"name": "general", "replicas": 2},
        {
            "name": "batch",
            "replicas": 1,
            "machineSize": "c7i.2xlarge",
            "labels": {"workload": "batch", "tier": "b"},
            "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}, {"key": "spot", "effect": "NoExecute"}],
        },
    ]
    objects = render(host, with_config(rootVolumeSize=100), flavor="eks", mode="clusterclass", workers=workers)

    assert crd_schemas.validate_all(objects) == []
    assert (
        not by_kind(objects, "AWSManagedControlPlane")
        and not by_kind(objects, "MachinePool")
        and not by_kind(objects, "KubeadmConfigTemplate")
    )
    cluster_template = content_named(objects, "AWSManagedClusterTemplate", "prod-1")
    control_plane = content_named(objects, "AWSManagedControlPlaneTemplate", "prod-1-control-plane")
    spec = control_plane["spec"]["template"]["spec"]
    assert (spec["eksClusterName"], spec["region"], spec["sshKeyName"]) == ("prod-1", "eu-west-1", "platform")
    assert "version" not in spec  # the topology's version is the one place to upgrade

    cluster_class = one(objects, "ClusterClass", "prod-1")["spec"]
    assert cluster_class["infrastructure"]["templateRef"]["name"] == cluster_template["metadata"]["name"]
    assert cluster_class["controlPlane"] == {
        "templateRef": {
            "apiVersion": CAPA_CONTROL_PLANE,
            "kind": "AWSManagedControlPlaneTemplate",
            "name": control_plane["metadata"]["name"],
        }
    }
    classes = {c["class"]: c for c in cluster_class["workers"]["machineDeployments"]}
    for pool in ("general", "batch"):
        node = content_named(objects, "AWSMachineTemplate", f"prod-1-{pool}")
        bootstrap = content_named(objects, "NodeadmConfigTemplate", f"prod-1-{pool}")
        assert classes[pool]["infrastructure"]["templateRef"]["name"] == node["metadata"]["name"]
        assert classes[pool]["bootstrap"]["templateRef"] == {
            "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta2",
            "kind": "NodeadmConfigTemplate",
            "name": bootstrap["metadata"]["name"],
        }
    assert machine(objects, "prod-1-batch") == {
        "iamInstanceProfile": NODES_PROFILE,
        "instanceType": "c7i.2xlarge",
        "ami": {"eksLookupType": "AmazonLinux2023"},
        "sshKeyName": "platform",
        "rootVolume": {"size": 100},
        "cloudInit": {"insecureSkipSecretsManager": True},
    }
    assert content_named(objects, "NodeadmConfigTemplate", "prod-1-general")["spec"] == {"template": {"spec": {}}}
    assert content_named(objects, "NodeadmConfigTemplate", "prod-1-batch")["spec"]["template"]["spec"] == {
        "kubelet": {"flags": ["--node-labels=tier=b,workload=batch", "--register-with-taints=dedicated=batch:NoSchedule,spot:NoExecute"]}
    }
    topology = one(objects, "Cluster")["spec"]["topology"]
    assert topology["version"] == "v1.33.1" and "controlPlane" not in topology

    # An AMI of one's own replaces the EKS-optimized lookup.
    own = render(host, with_config(amiId="ami-0ccccccccccccccccc"), flavor="eks", mode="clusterclass")
    assert machine(own, "prod-1-general")["ami"] == {"id": "ami-0ccccccccccccccccc"}


def test_eks_settings_on_a_kubeadm_cluster_and_kubeadm_ones_on_eks_are_ignored(host: PluginHost) -> None:
    """One ``aws:`` block in ``defaults:`` serves clusters of both flavors."""
    config = with_config(eks={"logging": ["audit"]}, amiId="ami-0ddddddddddddddddd", controlPlaneInstanceType="m6i.2xlarge")
    kubeadm = render(host, config)
    assert not capa_kinds(kubeadm) & {"AWSManagedControlPlane", "AWSManagedMachinePool"}
    eks = render(host, config, flavor="eks")
    assert "ami-0ddddddddddddddddd" not in dump_all(eks) and "m6i.2xlarge" not in dump_all(eks)


def test_pod_identity_associations_wait_for_a_capa_release_with_the_field(shared_folder: Path) -> None:
    """prepare's addon roles reach GitOps as annotations; once CAPA's
    AWSManagedControlPlane has ``podIdentityAssociations`` they should be
    rendered there as well (dokaseca_aws.eks)."""
    crd = yaml.safe_load((shared_folder / "crds" / "capa" / "controlplane.cluster.x-k8s.io_awsmanagedcontrolplanes.yaml").read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
    assert "podIdentityAssociations" not in served["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


# -- ClusterClass, kubeadm ----------------------------------------------------------------


def test_kubeadm_clusterclass_template_holds_what_the_classic_cluster_does(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(
        availabilityZones=["eu-west-1a", "eu-west-1b"], additionalTags={"team": "platform"}, identity={"kind": "role", "roleArn": ROLE_ARN}
    )
    classic = render(host, config)
    clusterclass = render(host, config, mode="clusterclass")

    assert crd_schemas.validate_all(clusterclass) == []
    template = content_named(clusterclass, "AWSClusterTemplate", "prod-1")
    assert template["spec"]["template"]["spec"] == one(classic, "AWSCluster")["spec"]
    assert one(clusterclass, "ClusterClass")["spec"]["infrastructure"]["templateRef"]["name"] == template["metadata"]["name"]
    for base in ("prod-1-control-plane", "prod-1-general"):
        assert machine(clusterclass, base) == machine(classic, base)


# -- checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "cluster", "path", "fragment"),
    [
        (with_config(identity={"kind": "role"}), {}, "aws.identity.roleArn", "is required when identity.kind is 'role'"),
        (
            with_config(identity={"kind": "role", "roleArn": "arn:aws:iam::1234:user/me"}),
            {},
            "aws.identity.roleArn",
            "is not an IAM role ARN",
        ),
        (with_config(addonRoles={"external_dns": {}}), {}, "aws.addonRoles.external_dns.policyArns", "is empty"),
        (
            with_config(availabilityZones=["eu-west-1a", "us-east-1b"]),
            {},
            "aws.availabilityZones[1]",
            "is not an availability zone of region 'eu-west-1'",
        ),
        (with_config(availabilityZones=["euw1-az1"]), {}, "aws.availabilityZones[0]", "zone ids such as 'euw1-az1' are not accepted"),
        (with_config(availabilityZones=["eu-west-1a", "eu-west-1a"]), {}, "aws.availabilityZones[1]", "repeats an earlier zone"),
        (with_config(availabilityZones=["eu-west-1a"]), {"flavor": "eks"}, "aws.availabilityZones", "EKS needs subnets in at least two"),
        (
            {**BASE_CONFIG},
            {"workers": [{"name": "general", "replicas": 1, "failureDomain": "eu-central-1a"}]},
            "workers.general.failureDomain",
            "is not an availability zone of region",
        ),
        (
            with_config(availabilityZones=["eu-west-1a", "eu-west-1b"]),
            {"workers": [{"name": "general", "replicas": 1, "failureDomain": "eu-west-1c"}]},
            "workers.general.failureDomain",
            "is not one of aws.availabilityZones",
        ),
        (
            with_config(eks={"addons": [{"name": "vpc-cni"}]}),
            {"flavor": "eks"},
            "aws.eks.addons[0].version",
            "is required for EKS addon 'vpc-cni'",
        ),
        (
            with_config(eks={"addons": [{"name": "coredns", "version": "v1"}, {"name": "coredns", "version": "v2"}]}),
            {"flavor": "eks"},
            "aws.eks.addons[1].name",
            "repeats an earlier addon",
        ),
        (
            with_config(amiLookup={"nameFormat": "capa-{os}-{kubernetes_version}"}),
            {},
            "aws.amiLookup.nameFormat",
            "uses {os}; only {base_os} and {kubernetes_version}",
        ),
        ({**BASE_CONFIG}, {"network": {"pods": ["10.0.128.0/17"]}}, "network.pods", "entry 0 overlaps the VPC's 10.0.0.0/16"),
        (
            with_config(network={"create": True, "cidr": "10.96.0.0/16"}),
            {"flavor": "eks"},
            "network.services",
            "overlaps the VPC's 10.96.0.0/16",
        ),
        (with_config(vpcId="vpc-0123456789abcdef0", network={"create": True}), {}, "aws.network.create", "conflicts with aws.vpcId"),
        (
            {"sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com"},
            {},
            "aws.sshPublicKey",
            "needs aws.sshKeyName",
        ),
        ({**BASE_CONFIG}, {"region": "europe-west1"}, "region", "is not an AWS region name"),
    ],
)
def test_cross_field_problems_are_reported_at_their_path(host: PluginHost, config: dict, cluster: dict, path: str, fragment: str) -> None:
    problems = problems_of(host, config, **cluster)
    full_path = f"clusters[0].{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


def test_every_problem_is_reported_at_once(host: PluginHost) -> None:
    config = with_config(identity={"kind": "role"}, availabilityZones=["us-east-1a"], addonRoles={"external_dns": {}})
    problems = problems_of(host, config, flavor="eks")
    assert {
        "clusters[0].aws.identity.roleArn",
        "clusters[0].aws.availabilityZones[0]",
        "clusters[0].aws.availabilityZones",
        "clusters[0].aws.addonRoles.external_dns.policyArns",
    } <= set(problems)


@pytest.mark.parametrize(
    ("config", "cluster"),
    [
        (with_config(identity={"kind": "role", "roleArn": "arn:aws-us-gov:iam::123456789012:role/path/capa"}), {"region": "us-gov-west-1"}),
        (with_config(availabilityZones=["eu-west-1a", "eu-west-1-lhr-1a"]), {}),
        # A VPC of one's own: its block is not known offline, so pods may use any range.
        (with_config(vpcId="vpc-0123456789abcdef0", subnetIds=["subnet-0123456789abcdef0"]), {"network": {"pods": ["10.0.0.0/16"]}}),
        # EKS pods take VPC addresses: only the service range must stay clear of the VPC.
        ({**BASE_CONFIG}, {"flavor": "eks", "network": {"pods": ["10.0.0.0/16"]}}),
        (with_config(eks={"addons": [{"name": "vpc-cni"}]}), {}),  # only EKS clusters use the addons
        # A secretName merged from a lower layer that used a static identity.
        (with_config(identity={"kind": "role", "roleArn": ROLE_ARN, "secretName": "left-over"}), {}),
    ],
)
def test_valid_settings_raise_no_problem(host: PluginHost, config: dict, cluster: dict) -> None:
    assert by_kind(render(host, config, **cluster), "Cluster")


# -- agreement with CAPA's templates ----------------------------------------------------------

_TEMPLATE_VALUES = {
    "CLUSTER_NAME": "prod-1",
    "CLUSTER_CLASS_NAME": "prod-1",
    "AWS_REGION": "eu-west-1",
    "AWS_SSH_KEY_NAME": "platform",
    "AWS_CONTROL_PLANE_MACHINE_TYPE": "m6i.large",
    "AWS_NODE_MACHINE_TYPE": "m6i.large",
    "KUBERNETES_VERSION": "v1.33.1",
    "CONTROL_PLANE_MACHINE_COUNT": "3",
    "WORKER_MACHINE_COUNT": "2",
}


def load_reference(shared_folder: Path, name: str) -> list[dict]:
    return clusterctl_template(shared_folder / "reference" / "templates" / "capa" / name, _TEMPLATE_VALUES)


def _ref(ref: dict) -> tuple[str, str, str]:
    """(group, kind, name) of a v1beta1 (apiVersion) or v1beta2 (apiGroup) reference."""
    group = ref["apiGroup"] if "apiGroup" in ref else ref["apiVersion"].rpartition("/")[0]
    return group, ref["kind"], ref["name"]


def _machine_fields(spec: dict) -> dict:
    return {key: spec[key] for key in ("iamInstanceProfile", "instanceType", "sshKeyName") if key in spec}


def test_kubeadm_rendering_matches_capa_cluster_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template.yaml")
    ours = render(host, workers=[{"name": "md-0", "replicas": 2}])

    assert capa_kinds(ours) == capa_kinds(reference) == {"AWSCluster", "AWSMachineTemplate"}
    ref_cluster, our_cluster = one(reference, "AWSCluster", "prod-1")["spec"], one(ours, "AWSCluster", "prod-1")["spec"]
    assert set(ref_cluster) <= set(our_cluster)
    for key in ("region", "sshKeyName"):
        assert our_cluster[key] == ref_cluster[key], key
    # The same load balancer, with CAPA's default scheme written out (apiEndpoint).
    assert our_cluster["controlPlaneLoadBalancer"] == {**ref_cluster["controlPlaneLoadBalancer"], "scheme": "internet-facing"}

    ref_cp = one(reference, "AWSMachineTemplate", "prod-1-control-plane")["spec"]["template"]["spec"]
    ref_worker = one(reference, "AWSMachineTemplate", "prod-1-md-0")["spec"]["template"]["spec"]
    assert machine(ours, "prod-1-control-plane") == ref_cp  # named prod-1-control-plane-<digest>: content-named
    assert machine(ours, "prod-1-md-0") == ref_worker

    ref_kcp, our_kcp = one(reference, "KubeadmControlPlane")["spec"], one(ours, "KubeadmControlPlane")["spec"]
    assert (our_kcp["replicas"], our_kcp["version"]) == (int(ref_kcp["replicas"]), ref_kcp["version"])
    assert _ref(our_kcp["machineTemplate"]["spec"]["infrastructureRef"])[:2] == _ref(ref_kcp["machineTemplate"]["infrastructureRef"])[:2]
    ref_config, our_config = ref_kcp["kubeadmConfigSpec"], our_kcp["kubeadmConfigSpec"]
    assert extra_args(our_config["clusterConfiguration"]["controllerManager"]["extraArgs"]) == extra_args(
        ref_config["clusterConfiguration"]["controllerManager"]["extraArgs"]
    )
    for phase in ("initConfiguration", "joinConfiguration"):
        ref_reg, our_reg = ref_config[phase]["nodeRegistration"], our_config[phase]["nodeRegistration"]
        assert our_reg["name"] == ref_reg["name"]
        assert extra_args(our_reg["kubeletExtraArgs"]) == extra_args(ref_reg["kubeletExtraArgs"])
    ref_join = one(reference, "KubeadmConfigTemplate")["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]
    our_join = content_named(ours, "KubeadmConfigTemplate", "prod-1-md-0")["spec"]["template"]["spec"]["joinConfiguration"][
        "nodeRegistration"
    ]
    assert our_join["name"] == ref_join["name"] and extra_args(our_join["kubeletExtraArgs"]) == extra_args(ref_join["kubeletExtraArgs"])

    ref_md, our_md = one(reference, "MachineDeployment", "prod-1-md-0")["spec"], one(ours, "MachineDeployment", "prod-1-md-0")["spec"]
    assert (our_md["replicas"], our_md["template"]["spec"]["version"]) == (int(ref_md["replicas"]), ref_md["template"]["spec"]["version"])
    for key in ("infrastructureRef",):
        assert _ref(our_md["template"]["spec"][key])[:2] == _ref(ref_md["template"]["spec"][key])[:2]
    assert _ref(our_md["template"]["spec"]["bootstrap"]["configRef"])[:2] == _ref(ref_md["template"]["spec"]["bootstrap"]["configRef"])[:2]

    ref_top, our_top = one(reference, "Cluster")["spec"], one(ours, "Cluster")["spec"]
    for key in ("controlPlaneRef", "infrastructureRef"):
        assert _ref(our_top[key]) == _ref(ref_top[key]), key
    assert our_top["clusterNetwork"]["pods"] == ref_top["clusterNetwork"]["pods"]

    # Deliberate: CAPI v1beta2, and the cloud controller manager and EBS CSI
    # driver come from the GitOps addons, not from ClusterResourceSets.
    assert one(reference, "Cluster")["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert one(ours, "Cluster")["apiVersion"] == "cluster.x-k8s.io/v1beta2"
    assert {"ClusterResourceSet", "ConfigMap"} <= {o["kind"] for o in reference}
    assert not {"ClusterResourceSet", "ConfigMap"} & {o["kind"] for o in ours}


def test_eks_rendering_matches_capa_eks_templates(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-eks.yaml")
    pools = load_reference(shared_folder, "cluster-template-eks-managedmachinepool.yaml")
    ours = render(host, flavor="eks", workers=[{"name": "pool-0", "replicas": 2}])

    for ref in (reference, pools):
        ref_top, our_top = one(ref, "Cluster")["spec"], one(ours, "Cluster")["spec"]
        for key in ("controlPlaneRef", "infrastructureRef"):
            assert _ref(our_top[key]) == _ref(ref_top[key]), key
        assert one(ours, "AWSManagedCluster", "prod-1")["spec"] == one(ref, "AWSManagedCluster", "prod-1")["spec"] == {}
        ref_cp = one(ref, "AWSManagedControlPlane", "prod-1-control-plane")
        our_cp = one(ours, "AWSManagedControlPlane", "prod-1-control-plane")
        assert our_cp["apiVersion"] == ref_cp["apiVersion"]
        for key in ("region", "sshKeyName", "version"):
            assert our_cp["spec"][key] == ref_cp["spec"][key], key

    # Worker pools have the managed-machine-pool template's shape...
    ref_pool, our_pool = one(pools, "MachinePool", "prod-1-pool-0")["spec"], one(ours, "MachinePool", "prod-1-pool-0")["spec"]
    assert (our_pool["clusterName"], our_pool["replicas"]) == (ref_pool["clusterName"], int(ref_pool["replicas"]))
    assert our_pool["template"]["spec"]["bootstrap"] == ref_pool["template"]["spec"]["bootstrap"] == {"dataSecretName": ""}
    assert _ref(our_pool["template"]["spec"]["infrastructureRef"]) == _ref(ref_pool["template"]["spec"]["infrastructureRef"])
    one(ours, "AWSManagedMachinePool", "prod-1-pool-0")
    # ...with the instance type the eks template gives its machines, on AL2023
    # (CAPA's default AL2 has no images from Kubernetes 1.33 on).
    ref_instance = one(reference, "AWSMachineTemplate")["spec"]["template"]["spec"]["instanceType"]
    assert one(ours, "AWSManagedMachinePool")["spec"]["instanceType"] == ref_instance
    assert one(pools, "AWSManagedMachinePool")["spec"] == {}
    assert one(ours, "AWSManagedMachinePool")["spec"]["amiType"] == "AL2023_x86_64_STANDARD"

    # Deliberate: managed node groups, not the eks template's MachineDeployment of EKSConfig nodes.
    assert {"MachineDeployment", "EKSConfigTemplate", "AWSMachineTemplate"} <= {o["kind"] for o in reference}
    assert not {"MachineDeployment", "EKSConfigTemplate", "AWSMachineTemplate"} & {o["kind"] for o in ours}
    assert capa_kinds(ours) == capa_kinds(pools) == {"AWSManagedCluster", "AWSManagedControlPlane", "AWSManagedMachinePool"}


def _patched(cluster_class: dict, variables: dict[str, Any], template: dict, **match: Any) -> dict:
    """What CAPI's topology controller makes of a template with the class's
    patches (the subset the reference uses: add/replace of a variable)."""
    patched = copy.deepcopy(template)
    for patch in cluster_class["spec"].get("patches", []):
        for definition in patch["definitions"]:
            selector = definition["selector"]
            if (selector["apiVersion"], selector["kind"]) != (template["apiVersion"], template["kind"]):
                continue
            resources = selector["matchResources"]
            if not (
                (match.get("infrastructure_cluster") and resources.get("infrastructureCluster"))
                or (match.get("control_plane") and resources.get("controlPlane"))
                or match.get("worker_class") in resources.get("machineDeploymentClass", {}).get("names", [])
            ):
                continue
            for op in definition["jsonPatches"]:
                *parents, leaf = op["path"].strip("/").split("/")
                node = patched
                for part in parents:
                    node = node[part]
                node[leaf] = variables[op["valueFrom"]["variable"]]
    return patched


def test_kubeadm_clusterclass_matches_capa_simple_clusterclass(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-simple-clusterclass.yaml")
    ours = render(host, mode="clusterclass", workers=[{"name": "md-0", "replicas": 2}])

    assert capa_kinds(ours) == capa_kinds(reference) == {"AWSClusterTemplate", "AWSMachineTemplate"}
    ref_class, our_class = one(reference, "ClusterClass")["spec"], one(ours, "ClusterClass")["spec"]
    assert _ref(our_class["infrastructure"]["templateRef"])[:2] == _ref(ref_class["infrastructure"]["ref"])[:2]
    assert _ref(our_class["controlPlane"]["templateRef"])[:2] == _ref(ref_class["controlPlane"]["ref"])[:2]
    assert (
        _ref(our_class["controlPlane"]["machineInfrastructure"]["templateRef"])[:2]
        == _ref(ref_class["controlPlane"]["machineInfrastructure"]["ref"])[:2]
    )
    (ref_worker,), (our_worker,) = ref_class["workers"]["machineDeployments"], our_class["workers"]["machineDeployments"]
    assert _ref(our_worker["bootstrap"]["templateRef"])[:2] == _ref(ref_worker["template"]["bootstrap"]["ref"])[:2]
    assert _ref(our_worker["infrastructure"]["templateRef"])[:2] == _ref(ref_worker["template"]["infrastructure"]["ref"])[:2]

    # The reference's templates after its patches hold the values ours carry directly.
    ref_topology = one(reference, "Cluster")["spec"]["topology"]
    variables = {v["name"]: v["value"] for v in ref_topology["variables"]}
    ref_cluster_class = one(reference, "ClusterClass")
    ref_template = _patched(ref_cluster_class, variables, one(reference, "AWSClusterTemplate"), infrastructure_cluster=True)["spec"][
        "template"
    ]["spec"]
    our_template = content_named(ours, "AWSClusterTemplate", "prod-1")["spec"]["template"]["spec"]
    for key in ("region", "sshKeyName"):
        assert our_template[key] == ref_template[key], key
    assert our_template["controlPlaneLoadBalancer"] == {**ref_template["controlPlaneLoadBalancer"], "scheme": "internet-facing"}
    ref_cp = _patched(ref_cluster_class, variables, one(reference, "AWSMachineTemplate", "quick-start-control-plane"), control_plane=True)
    ref_md = _patched(
        ref_cluster_class,
        variables,
        one(reference, "AWSMachineTemplate", "quick-start-worker-machinetemplate"),
        worker_class="default-worker",
    )
    assert machine(ours, "prod-1-control-plane") == _machine_fields(ref_cp["spec"]["template"]["spec"])
    assert machine(ours, "prod-1-md-0") == _machine_fields(ref_md["spec"]["template"]["spec"])

    our_topology = one(ours, "Cluster")["spec"]["topology"]
    assert our_topology["version"] == ref_topology["version"]
    assert our_topology["controlPlane"]["replicas"] == int(ref_topology["controlPlane"]["replicas"])
    (ref_pool,), (our_pool,) = ref_topology["workers"]["machineDeployments"], our_topology["workers"]["machineDeployments"]
    assert (our_pool["name"], our_pool["replicas"]) == (ref_pool["name"], int(ref_pool["replicas"]))

    ref_kcp = one(reference, "KubeadmControlPlaneTemplate")["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    our_kcp = one(ours, "KubeadmControlPlaneTemplate")["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    for phase in ("initConfiguration", "joinConfiguration"):
        assert our_kcp[phase]["nodeRegistration"]["name"] == ref_kcp[phase]["nodeRegistration"]["name"]
        # Deliberate: the reference still names the in-tree provider, removed in Kubernetes 1.27.
        assert extra_args(ref_kcp[phase]["nodeRegistration"]["kubeletExtraArgs"]) == {"cloud-provider": "aws"}
        assert extra_args(our_kcp[phase]["nodeRegistration"]["kubeletExtraArgs"]) == {"cloud-provider": "external"}
    # Deliberate: one class per cluster with its values in the templates, so no variables or patches.
    assert ref_class["variables"] and ref_class["patches"]
    assert "variables" not in our_class and "patches" not in our_class
    assert our_worker["class"] == "md-0" and ref_worker["class"] == "default-worker"


def test_eks_clusterclass_matches_capa_eks_clusterclass(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-eks-clusterclass.yaml")
    nodeadm = load_reference(shared_folder, "cluster-template-eks-nodeadm-clusterclass.yaml")
    ours = render(host, flavor="eks", mode="clusterclass", workers=[{"name": "md-0", "replicas": 2}])

    assert (
        capa_kinds(ours) == capa_kinds(reference) == {"AWSManagedClusterTemplate", "AWSManagedControlPlaneTemplate", "AWSMachineTemplate"}
    )
    ref_class, our_class = one(reference, "ClusterClass")["spec"], one(ours, "ClusterClass")["spec"]
    assert _ref(our_class["infrastructure"]["templateRef"])[:2] == _ref(ref_class["infrastructure"]["ref"])[:2]
    assert _ref(our_class["controlPlane"]["templateRef"])[:2] == _ref(ref_class["controlPlane"]["ref"])[:2]
    assert "machineInfrastructure" not in our_class["controlPlane"]
    (ref_worker,), (our_worker,) = ref_class["workers"]["machineDeployments"], our_class["workers"]["machineDeployments"]
    assert _ref(our_worker["infrastructure"]["templateRef"])[:2] == _ref(ref_worker["template"]["infrastructure"]["ref"])[:2]

    assert (
        content_named(ours, "AWSManagedClusterTemplate", "prod-1")["spec"] == one(reference, "AWSManagedClusterTemplate", "prod-1")["spec"]
    )
    ref_cp = one(reference, "AWSManagedControlPlaneTemplate", "prod-1-control-plane")["spec"]["template"]["spec"]
    our_cp = content_named(ours, "AWSManagedControlPlaneTemplate", "prod-1-control-plane")["spec"]["template"]["spec"]
    for key in ("region", "sshKeyName"):
        assert our_cp[key] == ref_cp[key], key
    # Deliberate: the version comes from Cluster.spec.topology.version only.
    assert ref_cp["version"] == "v1.33.1" and "version" not in our_cp

    ref_node = one(reference, "AWSMachineTemplate", "prod-1-md-0")["spec"]["template"]["spec"]
    nodeadm_node = one(nodeadm, "AWSMachineTemplate", "prod-1-md-0")["spec"]["template"]["spec"]
    our_node = machine(ours, "prod-1-md-0")
    assert _machine_fields(our_node) == _machine_fields(ref_node)
    # Deliberate: AL2023 nodes bootstrapped by nodeadm, as CAPA's nodeadm template
    # does, not EKSConfig's bootstrap.sh (Amazon Linux 2 only).
    assert our_node == nodeadm_node
    assert _ref(ref_worker["template"]["bootstrap"]["ref"])[1] == "EKSConfigTemplate"
    assert our_worker["bootstrap"]["templateRef"]["kind"] == "NodeadmConfigTemplate"
    assert {o["kind"] for o in nodeadm} >= {"NodeadmConfigTemplate"}
