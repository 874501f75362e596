"""The render pipeline and the core's CAPI objects, checked against the upstream CAPI CRDs."""

import fake_provider
import pytest
import yaml
from fake_provider import BASE_FLEET

from dokaseca import hookimpl
from dokaseca.config import parse_fleet
from dokaseca.errors import PolicyViolation, ProviderError
from dokaseca.manifests import dump_all
from dokaseca.plugins import load_plugins
from dokaseca.render import apply_rank, render_cluster
from dokaseca.testing import crd_schemas_for

CAPI_GROUPS = ("cluster.x-k8s.io/", "bootstrap.cluster.x-k8s.io/", "controlplane.cluster.x-k8s.io/")


def cluster_from(host, **fields):
    data = yaml.safe_load(BASE_FLEET)
    data["clusters"][0].update(fields)
    return parse_fleet(yaml.safe_dump(data), host).clusters[0]


def by_kind(objects):
    found = {}
    for obj in objects:
        found.setdefault(obj["kind"], []).append(obj)
    return found


def assert_capi_objects_valid(objects):
    schemas = crd_schemas_for(("capi",))
    core = [o for o in objects if o["apiVersion"].startswith(CAPI_GROUPS)]
    assert core
    problems = schemas.validate_all(core)
    assert not problems, "\n".join(f"{p.document} {p.path}: {p.message}" for p in problems)


def test_classic_kubeadm_objects_are_wired_and_valid(host):
    cluster = cluster_from(
        host,
        workers=[{"name": "general", "replicas": 2}, {"name": "batch", "minReplicas": 1, "maxReplicas": 4, "failureDomain": "zone-b", "labels": {"b": "1", "a": "2"}, "taints": [{"key": "batch", "effect": "NoExecute"}]}],
    )
    objects = render_cluster(host, cluster).objects
    kinds = by_kind(objects)
    (capi_cluster,) = kinds["Cluster"]
    (kcp,) = kinds["KubeadmControlPlane"]
    assert capi_cluster["spec"]["controlPlaneRef"] == {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KubeadmControlPlane", "name": "dev-1-control-plane"}
    assert capi_cluster["spec"]["infrastructureRef"] == {"apiGroup": "infrastructure.example.io", "kind": "FakeCluster", "name": "dev-1"}
    assert kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"].startswith("dev-1-control-plane-")
    assert kcp["spec"]["kubeadmConfigSpec"]["initConfiguration"]["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "cloud-provider", "value": "external"}]
    general, batch = kinds["MachineDeployment"]
    assert general["spec"]["replicas"] == 2
    assert "replicas" not in batch["spec"]
    assert batch["metadata"]["annotations"] == {
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "1",
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "4",
    }
    assert batch["spec"]["template"]["spec"]["bootstrap"]["configRef"]["name"].startswith("dev-1-batch-")
    assert batch["spec"]["template"]["spec"]["failureDomain"] == "zone-b"
    batch_config = next(o for o in kinds["KubeadmConfigTemplate"] if o["metadata"]["name"].startswith("dev-1-batch-"))
    registration = batch_config["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]
    assert {"name": "node-labels", "value": "a=2,b=1"} in registration["kubeletExtraArgs"]
    assert registration["taints"] == [{"key": "batch", "effect": "NoExecute"}]
    assert [o["metadata"]["name"] for o in kinds["MachineHealthCheck"]] == ["dev-1-control-plane-unhealthy", "dev-1-general-unhealthy", "dev-1-batch-unhealthy"]
    assert objects[-1]["kind"] == "Cluster", "the Cluster is applied last"
    assert [apply_rank(o) for o in objects] == sorted(apply_rank(o) for o in objects)
    assert_capi_objects_valid(objects)


def test_clusterclass_mode_renders_class_and_topology(host):
    cluster = cluster_from(host, mode="clusterclass", workers=[{"name": "general", "replicas": 2}, {"name": "auto", "minReplicas": 1, "maxReplicas": 3}])
    kinds = by_kind(render_cluster(host, cluster).objects)
    assert "KubeadmControlPlane" not in kinds and "MachineDeployment" not in kinds
    (cluster_class,) = kinds["ClusterClass"]
    assert cluster_class["spec"]["infrastructure"]["templateRef"]["kind"] == "FakeClusterTemplate"
    assert cluster_class["spec"]["controlPlane"]["templateRef"]["kind"] == "KubeadmControlPlaneTemplate"
    assert [c["class"] for c in cluster_class["spec"]["workers"]["machineDeployments"]] == ["general", "auto"]
    topology = kinds["Cluster"][0]["spec"]["topology"]
    assert topology["classRef"] == {"name": "dev-1"} and topology["version"] == "v1.33.1"
    general, auto = topology["workers"]["machineDeployments"]
    assert general["replicas"] == 2 and "replicas" not in auto
    assert auto["metadata"]["annotations"]["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"] == "3"
    assert_capi_objects_valid([o for v in kinds.values() for o in v])


def test_managed_flavor_replaces_kubeadm(host):
    cluster = cluster_from(host, flavor="managed")
    kinds = by_kind(render_cluster(host, cluster).objects)
    assert "KubeadmControlPlane" not in kinds and "MachineDeployment" not in kinds
    assert kinds["Cluster"][0]["spec"]["controlPlaneRef"]["kind"] == "FakeManagedControlPlane"
    assert [o["metadata"]["name"] for o in kinds["FakeManagedPool"]] == ["dev-1-general"]
    assert_capi_objects_valid(kinds["Cluster"])


def test_managed_flavor_in_clusterclass_mode_uses_the_providers_templates(host):
    cluster = cluster_from(host, flavor="managed", mode="clusterclass")
    kinds = by_kind(render_cluster(host, cluster).objects)
    assert "KubeadmControlPlaneTemplate" not in kinds and "KubeadmConfigTemplate" not in kinds
    (cluster_class,) = kinds["ClusterClass"]
    control_plane = cluster_class["spec"]["controlPlane"]
    assert control_plane["templateRef"]["name"] == kinds["FakeManagedControlPlaneTemplate"][0]["metadata"]["name"]
    assert "machineInfrastructure" not in control_plane, "a managed control plane has no machines"
    (worker,) = cluster_class["spec"]["workers"]["machineDeployments"]
    assert worker["bootstrap"]["templateRef"]["kind"] == "FakeConfigTemplate"
    assert worker["bootstrap"]["templateRef"]["name"] == kinds["FakeConfigTemplate"][0]["metadata"]["name"]
    topology = kinds["Cluster"][0]["spec"]["topology"]
    assert "controlPlane" not in topology and topology["workers"]["machineDeployments"][0]["replicas"] == 2
    assert_capi_objects_valid(kinds["ClusterClass"] + kinds["Cluster"])


def test_node_pools_become_machine_pool_classes_that_start_at_the_clouds_size(host):
    workers = [{"name": "general", "replicas": 2, "failureDomain": "zone-a"}, {"name": "auto", "minReplicas": 3, "maxReplicas": 6}]
    cluster = cluster_from(host, flavor="managed", mode="clusterclass", fake={"nodePools": True}, workers=workers)
    kinds = by_kind(render_cluster(host, cluster).objects)
    (cluster_class,) = kinds["ClusterClass"]
    assert list(cluster_class["spec"]["workers"]) == ["machinePools"]
    general, auto = cluster_class["spec"]["workers"]["machinePools"]
    assert general["infrastructure"]["templateRef"]["name"].startswith("dev-1-general-pool-")
    assert "healthCheck" not in general, "node pools are repaired by the cloud"
    assert cluster_class["spec"]["controlPlane"]["naming"] == {"template": "{{ .cluster.name }}"}
    topology = kinds["Cluster"][0]["spec"]["topology"]
    assert topology["workers"] == {
        "machinePools": [
            {"class": "general", "name": "general", "replicas": 2},  # its zones are in the provider's template
            {"class": "auto", "name": "auto", "replicas": 3},  # the cloud scales it: no cluster-autoscaler annotations
        ]
    }
    assert "MachineHealthCheck" not in kinds
    assert_capi_objects_valid(kinds["ClusterClass"] + kinds["Cluster"])


def test_templates_are_named_after_their_content(host):
    def template_names(**fields):
        objects = render_cluster(host, cluster_from(host, **fields)).objects
        return {o["metadata"]["name"] for o in objects if o["kind"].endswith("Template")}

    def referenced(objects):
        return {o["spec"]["template"]["spec"]["infrastructureRef"]["name"] for o in objects if o["kind"] == "MachineDeployment"}

    base = template_names()
    assert template_names() == base, "same content, same names: re-applying changes nothing"
    changed = template_names(workers=[{"name": "general", "replicas": 2, "machineSize": "large"}])
    assert len(changed - base) == 1 and next(iter(changed - base)).startswith("dev-1-general-")
    labelled = template_names(workers=[{"name": "general", "replicas": 2, "labels": {"a": "b"}}])
    assert {n for n in labelled - base} and all(n.startswith("dev-1-general-") for n in labelled - base)
    objects = render_cluster(host, cluster_from(host, workers=[{"name": "general", "replicas": 2, "machineSize": "large"}])).objects
    assert referenced(objects) == changed - base, "the MachineDeployment follows the new template"


def test_health_checks_can_be_turned_off(host):
    kinds = by_kind(render_cluster(host, cluster_from(host, healthChecks=False)).objects)
    assert "MachineHealthCheck" not in kinds


def test_every_object_carries_the_standard_labels(host):
    for obj in render_cluster(host, cluster_from(host)).objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "dokaseca"
        assert labels["cluster.x-k8s.io/cluster-name"] == "dev-1"
        assert labels["dokaseca.io/environment"] == "dev"


def test_render_is_byte_identical_across_runs(host):
    first = dump_all(render_cluster(host, cluster_from(host)).objects)
    again = dump_all(render_cluster(load_plugins(autoload=False, extra=[("fake", fake_provider)]), cluster_from(host)).objects)
    assert first == again
    assert "&id" not in first and "*id" not in first, "no YAML anchors in output"


class OrgPolicy:
    """A cross-cutting plugin: adds a label everywhere and forbids big control planes."""

    @hookimpl
    def modify_manifests(self, cluster, manifests):
        for obj in manifests:
            obj["metadata"].setdefault("labels", {})["acme.io/cost-center"] = "platform"
        for obj in manifests:
            if obj["kind"] == "KubeadmControlPlane" and obj["spec"]["replicas"] > 3:
                raise PolicyViolation(f"{cluster.name}: at most 3 control-plane nodes are allowed (set controlPlane.replicas)")


def test_hook_modify_manifests_adds_labels_and_enforces_policy():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider), ("policy", OrgPolicy())])
    for obj in render_cluster(host, cluster_from(host)).objects:
        assert obj["metadata"]["labels"]["acme.io/cost-center"] == "platform"
    with pytest.raises(PolicyViolation, match="at most 3"):
        render_cluster(host, cluster_from(host, controlPlane={"replicas": 5}))


def test_hook_render_provider_manifests_nobody_answers():
    class Registers:
        @hookimpl
        def register_providers(self, register):
            fake_provider.register_providers(register)

    host = load_plugins(autoload=False, extra=[("registers-only", Registers())])
    with pytest.raises(ProviderError, match="rendered nothing"):
        render_cluster(host, cluster_from(host))


def test_a_node_pool_machine_pool_is_sized_by_capi_or_by_its_cloud(host):
    from dokaseca.capi import AUTOSCALER_MAX, node_pool_machine_pool

    cluster = cluster_from(host, workers=[{"name": "fixed", "replicas": 2}, {"name": "auto", "minReplicas": 1, "maxReplicas": 5}])
    fixed, auto = (next(p for p in cluster.workers if p.name == name) for name in ("fixed", "auto"))
    node_pool = {"apiVersion": "infrastructure.example.io/v1alpha1", "kind": "FakeManagedPool", "metadata": {"name": "dev-1-fixed"}}

    pinned = node_pool_machine_pool(cluster, fixed, node_pool, version="v1.33.1")
    assert pinned["metadata"]["name"] == "dev-1-fixed" and pinned["spec"]["replicas"] == 2
    template = pinned["spec"]["template"]["spec"]
    assert template["version"] == "v1.33.1" and template["bootstrap"] == {"dataSecretName": ""}
    assert template["infrastructureRef"] == {"apiGroup": "infrastructure.example.io", "kind": "FakeManagedPool", "name": "dev-1-fixed"}

    by_capi = node_pool_machine_pool(cluster, auto, node_pool, version="v1.33.1")
    assert "replicas" not in by_capi["spec"] and by_capi["metadata"]["annotations"][AUTOSCALER_MAX] == "5"

    by_cloud = node_pool_machine_pool(cluster, auto, node_pool, version=None, replicas=3)
    assert by_cloud["spec"]["replicas"] == 3 and "annotations" not in by_cloud["metadata"]
    assert "version" not in by_cloud["spec"]["template"]["spec"], "a release channel upgrades the nodes"
    assert_capi_objects_valid([pinned, by_capi, by_cloud])
