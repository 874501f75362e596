"""Tests for dokaseca.crds against the real upstream CRDs in ../shared/crds."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from dokaseca.crds import CRDSchemas, SchemaProblem


@pytest.fixture(scope="module")
def shared_crds(shared_folder: Path) -> Path:
    return shared_folder / "crds"


@pytest.fixture(scope="module")
def schemas(shared_crds: Path) -> CRDSchemas:
    return CRDSchemas.from_directory(shared_crds)


def make_cluster() -> dict:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {
            "name": "dev-eu-1",
            "namespace": "fleet",
            "labels": {"dokaseca.io/environment": "dev"},
        },
        "spec": {
            "clusterNetwork": {
                "pods": {"cidrBlocks": ["192.168.0.0/16"]},
                "services": {"cidrBlocks": ["10.96.0.0/12"]},
            },
            "controlPlaneRef": {
                "apiGroup": "controlplane.cluster.x-k8s.io",
                "kind": "KubeadmControlPlane",
                "name": "dev-eu-1-control-plane",
            },
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io",
                "kind": "AWSCluster",
                "name": "dev-eu-1",
            },
        },
    }


def make_control_plane() -> dict:
    return {
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta2",
        "kind": "KubeadmControlPlane",
        "metadata": {"name": "dev-eu-1-control-plane", "namespace": "fleet"},
        "spec": {
            "replicas": 3,
            "version": "v1.33.1",
            "machineTemplate": {
                "spec": {
                    "infrastructureRef": {
                        "apiGroup": "infrastructure.cluster.x-k8s.io",
                        "kind": "AWSMachineTemplate",
                        "name": "dev-eu-1-control-plane",
                    }
                }
            },
            "kubeadmConfigSpec": {
                "initConfiguration": {
                    "nodeRegistration": {
                        "kubeletExtraArgs": [{"name": "cloud-provider", "value": "external"}]
                    }
                },
            },
            "rollout": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        },
    }


def make_aws_cluster() -> dict:
    return {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": "AWSCluster",
        "metadata": {"name": "dev-eu-1", "namespace": "fleet"},
        "spec": {
            "region": "eu-west-1",
            "sshKeyName": "fleet",
            "controlPlaneLoadBalancer": {"scheme": "internet-facing", "loadBalancerType": "nlb"},
            "network": {"vpc": {"cidrBlock": "10.0.0.0/16"}},
        },
    }


def problems_at(problems: list[SchemaProblem], path: str) -> list[str]:
    return [problem.message for problem in problems if problem.path == path]


def test_loads_served_versions_from_every_provider(schemas: CRDSchemas) -> None:
    kinds = schemas.kinds()
    assert {
        ("cluster.x-k8s.io/v1beta2", "Cluster"),
        ("cluster.x-k8s.io/v1beta1", "Cluster"),
        ("controlplane.cluster.x-k8s.io/v1beta2", "KubeadmControlPlane"),
        ("infrastructure.cluster.x-k8s.io/v1beta2", "AWSCluster"),
        ("infrastructure.cluster.x-k8s.io/v1beta1", "AzureCluster"),
        ("metal3.io/v1alpha1", "BareMetalHost"),
        ("argoproj.io/v1alpha1", "Application"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    } <= kinds


@pytest.mark.parametrize("make", [make_cluster, make_control_plane, make_aws_cluster])
def test_valid_object_has_no_problems(schemas: CRDSchemas, make) -> None:
    assert schemas.validate(make()) == []


def test_unknown_field_is_reported_with_its_path(schemas: CRDSchemas) -> None:
    aws_cluster = make_aws_cluster()
    aws_cluster["spec"]["controlPlaneLoadBalancer"]["schema"] = "internal"

    assert schemas.validate(aws_cluster) == [
        SchemaProblem(
            document="AWSCluster/dev-eu-1",
            path="spec.controlPlaneLoadBalancer.schema",
            message="unknown field 'schema'",
        )
    ]


def test_missing_required_field(schemas: CRDSchemas) -> None:
    cluster = make_cluster()
    del cluster["spec"]["infrastructureRef"]["name"]

    assert problems_at(schemas.validate(cluster), "spec.infrastructureRef.name") == [
        "required field 'name' is missing"
    ]


def test_wrong_type(schemas: CRDSchemas) -> None:
    control_plane = make_control_plane()
    control_plane["spec"]["replicas"] = "3"
    assert problems_at(schemas.validate(control_plane), "spec.replicas") == [
        "expected integer, got string"
    ]

    control_plane["spec"]["replicas"] = True  # a bool is an int in Python, not in Kubernetes
    assert problems_at(schemas.validate(control_plane), "spec.replicas") == [
        "expected integer, got boolean"
    ]


def test_enum_violation(schemas: CRDSchemas) -> None:
    aws_cluster = make_aws_cluster()
    aws_cluster["spec"]["controlPlaneLoadBalancer"]["scheme"] = "public"

    assert problems_at(schemas.validate(aws_cluster), "spec.controlPlaneLoadBalancer.scheme") == [
        "'public' is not one of ['internet-facing', 'internal']"
    ]


def test_pattern_violation(schemas: CRDSchemas) -> None:
    cluster = make_cluster()
    cluster["spec"]["controlPlaneRef"]["name"] = "Dev_EU_1"

    [message] = problems_at(schemas.validate(cluster), "spec.controlPlaneRef.name")
    assert message.startswith("'Dev_EU_1' does not match pattern '^[a-z0-9]")


@pytest.mark.parametrize("max_surge", [1, "25%"])
def test_int_or_string_accepts_both(schemas: CRDSchemas, max_surge) -> None:
    control_plane = make_control_plane()
    control_plane["spec"]["rollout"]["strategy"]["rollingUpdate"]["maxSurge"] = max_surge

    assert schemas.validate(control_plane) == []


def test_int_or_string_rejects_other_types(schemas: CRDSchemas) -> None:
    control_plane = make_control_plane()
    control_plane["spec"]["rollout"]["strategy"]["rollingUpdate"]["maxSurge"] = True

    assert problems_at(
        schemas.validate(control_plane), "spec.rollout.strategy.rollingUpdate.maxSurge"
    ) == ["expected integer or string, got boolean"]


def test_numeric_and_count_bounds(schemas: CRDSchemas) -> None:
    cluster = make_cluster()
    cluster["spec"]["clusterNetwork"]["apiServerPort"] = 70000
    cluster["spec"]["clusterNetwork"]["pods"]["cidrBlocks"] = []

    problems = schemas.validate(cluster)

    assert problems_at(problems, "spec.clusterNetwork.apiServerPort") == [
        "70000 is greater than the maximum 65535"
    ]
    assert problems_at(problems, "spec.clusterNetwork.pods.cidrBlocks") == [
        "must have at least 1 item, got 0"
    ]


def test_unknown_kind_is_reported(schemas: CRDSchemas, shared_crds: Path) -> None:
    old_cluster = make_cluster() | {"apiVersion": "cluster.x-k8s.io/v1alpha3"}

    assert schemas.validate(old_cluster) == [
        SchemaProblem(
            document="Cluster/dev-eu-1",
            path="",
            message=f"no CRD for cluster.x-k8s.io/v1alpha3 Cluster in {shared_crds}",
        )
    ]


def test_validate_all_skips_built_in_kinds_only_when_allowed(schemas: CRDSchemas) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dev-eu-1-kubeconfig"}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}

    assert schemas.validate_all([secret, make_cluster()]) == []
    assert [p.document for p in schemas.validate_all([secret, role])] == ["Role/r"]
    assert schemas.validate_all([role], allow_unknown_kinds=["rbac.authorization.k8s.io/v1"]) == []
    assert [p.document for p in schemas.validate_all([secret], allow_unknown_kinds=())] == [
        "Secret/dev-eu-1-kubeconfig"
    ]

    # Listing an apiVersion only excuses missing CRDs; known kinds are still checked.
    bad_cluster = make_cluster()
    bad_cluster["spec"]["paused"] = "no"
    problems = schemas.validate_all([bad_cluster], allow_unknown_kinds=["cluster.x-k8s.io/v1beta2"])
    assert [p.path for p in problems] == ["spec.paused"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Dev_EU_1", "'Dev_EU_1' is not a valid DNS-1123 subdomain"),
        ("-dev", "'-dev' is not a valid DNS-1123 subdomain"),
        ("a" * 254, "must be at most 253 characters long, got 254"),
        (None, "required field 'name' is missing"),
    ],
)
def test_bad_metadata_name(schemas: CRDSchemas, name, expected: str) -> None:
    aws_cluster = make_aws_cluster()
    aws_cluster["metadata"]["name"] = name
    if name is None:
        del aws_cluster["metadata"]["name"]

    [message] = problems_at(schemas.validate(aws_cluster), "metadata.name")
    assert message.startswith(expected)


def test_metadata_labels_and_unknown_metadata_fields(schemas: CRDSchemas) -> None:
    cluster = make_cluster()
    cluster["metadata"]["labels"] = {"app.kubernetes.io/part-of": 7, "tier": "control plane"}
    cluster["metadata"]["lables"] = {}

    problems = schemas.validate(cluster)

    assert problems_at(problems, "metadata.labels['app.kubernetes.io/part-of']") == [
        "expected string, got integer"
    ]
    assert problems_at(problems, "metadata.labels.tier")[0].startswith(
        "'control plane' is not a valid label value"
    )
    assert problems_at(problems, "metadata.lables") == ["unknown field 'lables'"]


def test_status_is_reported(schemas: CRDSchemas) -> None:
    cluster = make_cluster() | {"status": {"phase": "Provisioned"}}

    assert problems_at(schemas.validate(cluster), "status") == [
        "status must not be set in a rendered manifest (controllers own it)"
    ]


def test_problems_are_deterministic_and_sorted(schemas: CRDSchemas) -> None:
    objects = []
    for index in range(5):
        cluster = make_cluster()
        cluster["metadata"]["name"] = f"c{index}"
        cluster["spec"]["paused"] = "yes"
        cluster["spec"]["topologyy"] = {}
        del cluster["spec"]["controlPlaneRef"]["kind"]
        aws_cluster = make_aws_cluster()
        aws_cluster["metadata"]["name"] = f"c{index}"
        aws_cluster["spec"]["controlPlaneLoadBalancer"]["scheme"] = "public"
        objects += [cluster, aws_cluster]

    first = schemas.validate_all(objects)
    shuffled = copy.deepcopy(objects)
    random.Random(7).shuffle(shuffled)
    second = schemas.validate_all(shuffled)

    assert len(first) == 20
    assert first == second
    assert first == sorted(first, key=lambda p: (p.document, p.path, p.message))
    assert first[:3] == [
        SchemaProblem(
            document="AWSCluster/c0",
            path="spec.controlPlaneLoadBalancer.scheme",
            message="'public' is not one of ['internet-facing', 'internal']",
        ),
        SchemaProblem(
            document="AWSCluster/c1",
            path="spec.controlPlaneLoadBalancer.scheme",
            message="'public' is not one of ['internet-facing', 'internal']",
        ),
        SchemaProblem(
            document="AWSCluster/c2",
            path="spec.controlPlaneLoadBalancer.scheme",
            message="'public' is not one of ['internet-facing', 'internal']",
        ),
    ]


WIDGET_FILE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-crd}
data: {spec: ignored}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.dokaseca.io}
spec:
  group: example.dokaseca.io
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1}
                note: {type: string, nullable: true}
                tags:
                  type: object
                  maxProperties: 2
                  additionalProperties: {type: string}
                nothing: {type: object}
                anything: {type: object, x-kubernetes-preserve-unknown-fields: true}
    - name: v2
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
"""


def make_widget(api_version: str = "example.dokaseca.io/v1", **spec) -> dict:
    return {
        "apiVersion": api_version,
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1, **spec},
    }


def test_directory_loading_ignores_non_crds_and_unserved_versions(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "widgets.yml").write_text(WIDGET_FILE)
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    (tmp_path / "notes.txt").write_text("kind: CustomResourceDefinition\n")

    widgets = CRDSchemas.from_directory(tmp_path)

    assert widgets.kinds() == frozenset({("example.dokaseca.io/v1", "Widget")})
    assert widgets.validate(make_widget()) == []
    assert [p.message for p in widgets.validate(make_widget("example.dokaseca.io/v2"))] == [
        f"no CRD for example.dokaseca.io/v2 Widget in {tmp_path}"
    ]


def test_nullable_maps_and_pruned_objects(tmp_path: Path) -> None:
    (tmp_path / "widgets.yaml").write_text(WIDGET_FILE)
    widgets = CRDSchemas.from_directory(tmp_path)

    assert widgets.validate(make_widget(note=None, anything={"free": {"form": 1}})) == []

    problems = widgets.validate(
        make_widget(size=None, tags={"a": "1", "b": 2, "c": "3"}, nothing={"dropped": True})
    )

    assert [(p.path, p.message) for p in problems] == [
        ("spec.nothing.dropped", "unknown field 'dropped'"),
        ("spec.size", "expected integer, got null"),
        ("spec.tags", "must have at most 2 fields, got 3"),
        ("spec.tags.b", "expected string, got integer"),
    ]
