"""apply and status against the Kubernetes API emulator, through the real kubernetes client."""

import base64
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dokaseca.apply import apply_fleet
from dokaseca.cli import cli
from dokaseca.config import load_fleet
from dokaseca.kube import Kube, KubeError
from dokaseca.plugins import load_plugins
from dokaseca.render import render_clusters

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet.yaml"
READY = {
    "phase": "Provisioned",
    "conditions": [
        {"type": "InfrastructureReady", "status": "True", "lastTransitionTime": "2026-11-25T00:00:00Z", "reason": "Ready"},
        {"type": "ControlPlaneAvailable", "status": "True", "lastTransitionTime": "2026-11-25T00:00:00Z", "reason": "Ready"},
    ],
    "workers": {"desiredReplicas": 2, "readyReplicas": 2},
}
WORKLOAD_KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: [{name: admin, user: {token: workload-secret-token}}]\n"


@pytest.fixture
def host():
    return load_plugins()


@pytest.fixture
def fleet(host):
    return load_fleet(EXAMPLE, host)


@pytest.fixture
def kube(kube_emulator):
    return Kube(str(kube_emulator.kubeconfig_path), kube_emulator.context)


def expected_objects(host, clusters):
    return [o for r in render_clusters(host, clusters) for o in r.objects]


def capi_kubeconfig_secret(emulator, cluster):
    """What CAPI writes once the control plane is initialised."""
    if emulator.objects.get("v1", "Namespace", cluster.namespace) is None:
        emulator.objects.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.namespace}})
    emulator.objects.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{cluster.name}-kubeconfig", "namespace": cluster.namespace},
            "data": {"value": base64.b64encode(WORKLOAD_KUBECONFIG.encode()).decode()},
        }
    )


def test_apply_creates_every_object_once_then_changes_nothing(host, fleet, kube, kube_emulator, tmp_path):
    clusters = fleet.clusters
    objects = expected_objects(host, clusters)
    outcomes = apply_fleet(host, clusters, kube, wait=False, prepare=False, state_dir=tmp_path)
    assert [o.error for o in outcomes] == ["", "", ""]
    for obj in objects:
        meta = obj["metadata"]
        live = kube_emulator.objects.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        assert live is not None, f"{obj['kind']} {meta['name']} missing"
        assert live["metadata"]["managedFields"][0]["manager"] == "dokaseca"
    for namespace in ("dev", "stg", "prod"):
        assert kube_emulator.objects.get("v1", "Namespace", namespace) is not None

    applies = kube_emulator.requests.count(method="PATCH", content_type="application/apply-patch+yaml")
    assert applies == len(objects) + 3, "one apply per object (and per namespace)"
    versions = {(o["kind"], o["metadata"]["name"]): kube_emulator.objects.get(o["apiVersion"], o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))["metadata"]["resourceVersion"] for o in objects}
    before = len(kube_emulator.requests.filter())

    apply_fleet(host, clusters, Kube(str(kube_emulator.kubeconfig_path), kube_emulator.context), wait=False, prepare=False, state_dir=tmp_path)
    second = kube_emulator.requests.filter()[before:]
    assert sum(1 for r in second if r.method == "PATCH") == len(objects) + 3
    again = {(o["kind"], o["metadata"]["name"]): kube_emulator.objects.get(o["apiVersion"], o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))["metadata"]["resourceVersion"] for o in objects}
    assert again == versions, "a second apply changes nothing"
    discovery = [r for r in second if r.method == "GET" and (r.path.startswith("/apis") or r.path.startswith("/api"))]
    assert len(discovery) < len({(o["apiVersion"], o["kind"]) for o in objects}) + 30, "discovery is per kind at most, not per object"


def test_wait_completes_when_the_cluster_becomes_ready_and_saves_a_0600_kubeconfig(host, fleet, kube, kube_emulator, tmp_path):
    (cluster,) = fleet.select(clusters=("dev-eu-1",))
    capi_kubeconfig_secret(kube_emulator, cluster)
    capi = "cluster.x-k8s.io/v1beta2"
    kube_emulator.when_exists(capi, "Cluster", cluster.name, cluster.namespace, lambda: kube_emulator.set_status(capi, "Cluster", cluster.name, cluster.namespace, READY))
    seen = []
    (outcome,) = apply_fleet(host, [cluster], kube, timeout=15, prepare=False, state_dir=tmp_path / "state", progress=lambda name, what: seen.append(what))
    assert outcome.ready is True and outcome.error == ""
    path = Path(outcome.kubeconfig)
    assert path.read_text() == WORKLOAD_KUBECONFIG
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert any("InfrastructureReady=True" in s for s in seen)
    assert all("workload-secret-token" not in s for s in seen)


def test_wait_times_out_naming_the_condition_still_false(host, fleet, kube, kube_emulator, tmp_path):
    (cluster,) = fleet.select(clusters=("dev-eu-1",))

    def half_ready():
        time.sleep(0.3)
        kube_emulator.set_status(
            "cluster.x-k8s.io/v1beta2",
            "Cluster",
            cluster.name,
            cluster.namespace,
            {"conditions": [READY["conditions"][0], {"type": "ControlPlaneAvailable", "status": "False", "lastTransitionTime": "2026-11-25T00:00:00Z", "reason": "WaitingForMachines", "message": "0 of 1 machines ready"}]},
        )

    threading.Thread(target=half_ready, daemon=True).start()
    (outcome,) = apply_fleet(host, [cluster], kube, timeout=2, prepare=False, state_dir=tmp_path)
    assert outcome.ready is False
    assert "timed out" in outcome.error and "ControlPlaneAvailable is False (WaitingForMachines: 0 of 1 machines ready)" in outcome.error
    assert "InfrastructureReady" not in outcome.error


@pytest.mark.parametrize("fault", ["409", "429", "500", "drop"])
def test_transient_faults_are_retried(host, fleet, kube, kube_emulator, tmp_path, fault):
    (cluster,) = fleet.select(clusters=("dev-eu-1",))
    apply_fleet(host, [cluster], kube, wait=False, prepare=False, state_dir=tmp_path)  # discovery and namespaces done
    if fault == "drop":
        kube_emulator.drop_next(2, method="PATCH")
    else:
        kube_emulator.fail_next(2, status=int(fault), retry_after=0 if fault == "429" else None, method="PATCH")
    (outcome,) = apply_fleet(host, [cluster], kube, wait=False, prepare=False, state_dir=tmp_path)
    assert outcome.error == ""
    faulted = [r for r in kube_emulator.requests.filter(method="PATCH") if r.fault]
    assert len(faulted) == 2


def test_interrupted_apply_converges_without_duplicates(host, fleet, kube, kube_emulator, tmp_path):
    (cluster,) = fleet.select(clusters=("prod-eu-1",))
    objects = expected_objects(host, [cluster])
    from dokaseca.render import namespace_objects

    kube.apply([*namespace_objects([cluster]), *objects[: len(objects) // 2]])  # a run killed half-way
    apply_fleet(host, [cluster], kube, wait=False, prepare=False, state_dir=tmp_path)
    for obj in objects:
        found = kube_emulator.objects.list(api_version=obj["apiVersion"], kind=obj["kind"], namespace=cluster.namespace)
        assert sum(1 for o in found if o["metadata"]["name"] == obj["metadata"]["name"]) == 1


def test_unknown_kind_is_a_clear_error(kube):
    with pytest.raises(KubeError, match="does not serve FooCluster"):
        kube.resource("infrastructure.example.io/v1", "FooCluster")


def test_cli_apply_and_status(kube_emulator, tmp_path, monkeypatch):
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    args = ["--kubeconfig", str(kube_emulator.kubeconfig_path), "--context", kube_emulator.context]
    runner = CliRunner()
    applied = runner.invoke(cli, ["apply", str(EXAMPLE), *args, "--no-wait", "--no-prepare", "--output", "json", "--state-dir", str(tmp_path)], catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    kube_emulator.set_status("cluster.x-k8s.io/v1beta2", "Cluster", "prod-eu-1", "prod", READY)
    result = runner.invoke(cli, ["status", str(EXAMPLE), *args, "--output", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {row["cluster"]: row for row in json.loads(result.output[result.output.index("[") :])}
    assert rows["prod-eu-1"]["control_plane_ready"] is True and rows["prod-eu-1"]["workers_ready"] == 2
    assert rows["dev-eu-1"]["phase"] in ("Pending", "") and rows["dev-eu-1"]["control_plane_ready"] is False
    assert kube_emulator.token not in applied.output + result.output


def test_unreachable_management_cluster_is_a_clear_error(tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "sekret-token-value"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    result = CliRunner().invoke(cli, ["status", str(EXAMPLE), "--kubeconfig", str(config), "--context", "x"])
    assert result.exit_code != 0
    assert "sekret-token-value" not in result.output
