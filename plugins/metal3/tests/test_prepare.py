"""prepare for Metal3 through the real hook and the real kubernetes client,
against the Kubernetes API emulator: host registration, idempotence, hosts in
use, pool capacity, IP pool clashes, and credentials that never show."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import attrs
import pytest
import yaml
from click.testing import CliRunner

from dokaseca.cli import cli
from dokaseca.config import load_fleet
from dokaseca.errors import ProviderError
from dokaseca.kube import ManagementCluster
from dokaseca.manifests import dump_all
from dokaseca.models import InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.render import render_cluster

import dokaseca_metal3.plugin

PASSWORD = "Tr0ub4dor-BMC-s3cret"
USERNAME = "metal-admin"
ENCODED = [base64.b64encode(value.encode()).decode() for value in (PASSWORD, USERNAME)]
BMH = ("metal3.io/v1alpha1", "BareMetalHost")
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
IMAGE = {"url": "https://images.example.com/ubuntu-2404.qcow2", "checksum": "a" * 64}


def inventory_host(name: str, role: str = "worker", **fields: Any) -> dict[str, Any]:
    number = int(name.rsplit("-", 1)[1]) + (0 if role == "worker" else 100)
    bmc = {"address": f"redfish-virtualmedia://10.0.0.{number}/redfish/v1/Systems/1", "usernameEnv": "BMC_USERNAME", "passwordEnv": "BMC_PASSWORD"}
    return {"name": name, "role": role, "bootMACAddress": f"52:54:00:00:00:{number:02x}", "rack": "r1", "bmc": bmc, **fields}


DEFAULT_HOSTS = [inventory_host("cp-1", "control-plane"), inventory_host("w-1"), inventory_host("w-2")]


class Site:
    """A fleet file with one Metal3 cluster, prepared against the emulator through the real hook."""

    def __init__(self, folder: Path, host: PluginHost, emulator: Any) -> None:
        self.folder, self.host, self.emulator = folder, host, emulator
        self.path = folder / "fleet.yaml"

    def write(self, hosts: Optional[list[dict]] = None, *, workers: Optional[list[dict]] = None, **metal3: Any) -> Path:
        block = {"controlPlaneEndpoint": "172.16.10.5", "image": IMAGE, "inventory": {"site": "ams1", "hosts": DEFAULT_HOSTS if hosts is None else hosts}}
        cluster = {
            "name": "edge-1",
            "environment": "prod",
            "provider": "metal3",
            "controlPlane": {"replicas": 1},
            "workers": [{"name": "general", "replicas": 2}] if workers is None else workers,
            "metal3": {**block, **metal3},
        }
        fleet = {"apiVersion": "dokaseca.io/v1alpha1", "kind": "Fleet", "metadata": {"name": "acme"}, "defaults": {"kubernetesVersion": "v1.33.1"}, "clusters": [cluster]}
        self.path.write_text(yaml.safe_dump(fleet, sort_keys=False))
        return self.path

    def cluster(self) -> Any:
        if not self.path.exists():
            self.write()
        return load_fleet(self.path, self.host).clusters[0]

    def prepare(self, *, dry_run: bool = False) -> InfraResult:
        cluster = self.cluster()
        management = ManagementCluster(str(self.emulator.kubeconfig_path), self.emulator.context)
        return self.host.hook.prepare_infrastructure(
            cluster=cluster, provider=self.host.providers["metal3"], dry_run=dry_run, management=management
        )

    def writes(self) -> int:
        return sum(self.emulator.requests.count(method) for method in MUTATING)

    def bmh(self, name: str) -> Optional[dict]:
        return self.emulator.objects.get(*BMH, name, "prod")

    def provisioned(self, name: str, *, cluster: Optional[str] = None, state: str = "provisioned") -> None:
        """What CAPM3 and the baremetal-operator do to a host they deploy."""
        if cluster is not None:
            consumer = {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3Machine", "namespace": "prod", "name": f"{cluster}-{name}"}
            resource = self.emulator.dynamic_client().resources.get(api_version=BMH[0], kind=BMH[1])
            patch = {"metadata": {"labels": {"cluster.x-k8s.io/cluster-name": cluster}}, "spec": {"consumerRef": consumer, "online": True}}
            resource.patch(name=name, namespace="prod", body=patch, content_type="application/merge-patch+json")
        self.emulator.set_status(*BMH, name, "prod", {"provisioning": {"state": state}, "operationalStatus": "OK"})


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BMC_USERNAME", USERNAME)
    monkeypatch.setenv("BMC_PASSWORD", PASSWORD)


@pytest.fixture
def site(tmp_path: Path, plugin_host: Callable[..., PluginHost], kube_emulator: Any, credentials: None) -> Site:
    return Site(tmp_path, plugin_host(("metal3", dokaseca_metal3.plugin)), kube_emulator)


def decoded(secret: dict, key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


# -- registration ---------------------------------------------------------------------


def test_hosts_are_registered_with_their_bmc_secrets(site: Site, kube_emulator: Any) -> None:
    result = site.prepare()

    for name, role in (("cp-1", "control-plane"), ("w-1", "worker"), ("w-2", "worker")):
        host = site.bmh(name)
        assert host is not None, name
        assert host["spec"]["online"] is False
        assert host["spec"]["bmc"]["credentialsName"] == f"{name}-bmc-secret"
        assert host["spec"]["bmc"]["address"].startswith("redfish-virtualmedia://")
        assert host["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "dokaseca",
            "dokaseca.io/fleet": "acme",
            "dokaseca.io/environment": "prod",
            "dokaseca.io/role": role,
            "dokaseca.io/site": "ams1",
            "dokaseca.io/rack": "r1",
        }
        secret = kube_emulator.objects.get("v1", "Secret", f"{name}-bmc-secret", "prod")
        assert (decoded(secret, "username"), decoded(secret, "password")) == (USERNAME, PASSWORD)
        assert secret["type"] == "Opaque"
    assert site.bmh("cp-1")["spec"]["bootMACAddress"] == "52:54:00:00:00:65"
    assert kube_emulator.objects.get("v1", "Namespace", "prod") is not None
    assert result.actions == (
        "create Namespace prod",
        "create Secret prod/cp-1-bmc-secret",
        "create BareMetalHost prod/cp-1",
        "create Secret prod/w-1-bmc-secret",
        "create BareMetalHost prod/w-1",
        "create Secret prod/w-2-bmc-secret",
        "create BareMetalHost prod/w-2",
    )
    assert result.outputs == {
        "namespace": "prod",
        "hosts": ["cp-1", "w-1", "w-2"],
        "pools": {"controlPlane": {"needs": 1, "matching": 1}, "general": {"needs": 2, "matching": 2}},
    }


def test_the_registered_hosts_validate_against_the_baremetal_operator_crd(site: Site, kube_emulator: Any, crd_schemas: Any) -> None:
    hints = {"deviceName": "/dev/sda", "minSizeGigabytes": 200, "rotational": False, "hctl": "0:0:0:0"}
    site.write([inventory_host("cp-1", "control-plane", rootDeviceHints=hints), inventory_host("w-1"), inventory_host("w-2", machineSize="r650")])
    site.prepare()
    hosts = kube_emulator.objects.list(*BMH, namespace="prod")
    assert len(hosts) == 3
    clean = [{key: host[key] for key in ("apiVersion", "kind", "spec")} | {"metadata": {"name": host["metadata"]["name"]}} for host in hosts]
    assert crd_schemas.validate_all(clean) == []
    assert site.bmh("cp-1")["spec"]["rootDeviceHints"] == hints
    assert site.bmh("w-2")["metadata"]["labels"]["dokaseca.io/machine-size"] == "r650"


def test_a_second_run_makes_no_mutating_request(site: Site) -> None:
    site.prepare()
    before = site.writes()
    again = site.prepare()
    assert site.writes() == before
    assert again.actions == ()
    assert again.outputs["hosts"] == ["cp-1", "w-1", "w-2"]


def test_changes_to_the_inventory_update_only_what_changed(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.prepare()
    labelled = inventory_host("w-1", labels={"example.com/disk": "nvme"})
    site.write([DEFAULT_HOSTS[0], labelled, DEFAULT_HOSTS[2]])
    assert site.prepare().actions == ("update BareMetalHost prod/w-1",)
    assert site.bmh("w-1")["metadata"]["labels"]["example.com/disk"] == "nvme"

    # Dropping the label removes it; a rotated password updates the Secret alone.
    site.write()
    monkeypatch.setenv("BMC_PASSWORD", "rotated-" + PASSWORD)
    actions = site.prepare().actions
    assert "update BareMetalHost prod/w-1" in actions
    assert {a for a in actions if "Secret" in a} == {f"update Secret prod/{name}-bmc-secret" for name in ("cp-1", "w-1", "w-2")}
    assert "example.com/disk" not in site.bmh("w-1")["metadata"]["labels"]
    assert site.prepare().actions == ()


def test_labels_other_controllers_add_do_not_count_as_changes(site: Site, kube_emulator: Any) -> None:
    site.prepare()
    resource = kube_emulator.dynamic_client().resources.get(api_version=BMH[0], kind=BMH[1])
    resource.patch(name="w-1", namespace="prod", body={"metadata": {"labels": {"example.com/team": "ops"}}}, content_type="application/merge-patch+json")
    kube_emulator.set_status(*BMH, "w-1", "prod", {"provisioning": {"state": "available"}, "operationalStatus": "OK"})
    before = site.writes()
    assert site.prepare().actions == ()
    assert site.writes() == before


def test_dry_run_writes_nothing_and_lists_the_plan(site: Site, kube_emulator: Any) -> None:
    result = site.prepare(dry_run=True)
    assert site.writes() == 0
    assert kube_emulator.objects.get("v1", "Namespace", "prod") is None
    assert result.actions[0] == "create Namespace prod"
    assert len(result.actions) == 7
    # Planned hosts count for the capacity check, as they will exist.
    assert result.outputs["pools"]["general"] == {"needs": 2, "matching": 2}


def test_clusters_sharing_a_namespace_share_the_hosts(site: Site) -> None:
    site.prepare()
    before = site.writes()
    twin = attrs.evolve(site.cluster(), name="edge-2")
    management = ManagementCluster(str(site.emulator.kubeconfig_path), site.emulator.context)
    result = site.host.hook.prepare_infrastructure(cluster=twin, provider=site.host.providers["metal3"], dry_run=False, management=management)
    assert result.actions == () and site.writes() == before


# -- hosts in use ---------------------------------------------------------------------


def test_a_provisioned_host_and_its_secret_are_never_touched(site: Site, kube_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    site.write([*DEFAULT_HOSTS, inventory_host("w-3")])
    site.prepare()
    site.provisioned("w-1", cluster="edge-1")
    site.provisioned("w-2", cluster="edge-1", state="provisioning")
    site.provisioned("w-3", state="deprovisioning")
    hosts_before = {name: site.bmh(name) for name in ("w-1", "w-2", "w-3")}
    secret_before = kube_emulator.objects.get("v1", "Secret", "w-1-bmc-secret", "prod")

    # The inventory changes the workers and every password: only cp-1 may be written.
    site.write([DEFAULT_HOSTS[0], *(inventory_host(name, rack="r9") for name in ("w-1", "w-2", "w-3"))])
    monkeypatch.setenv("BMC_PASSWORD", "rotated-" + PASSWORD)
    before = len(kube_emulator.requests)
    result = site.prepare()

    assert result.actions == ("update Secret prod/cp-1-bmc-secret",)
    assert [r.path for r in kube_emulator.requests[before:] if r.method in MUTATING] == ["/api/v1/namespaces/prod/secrets/cp-1-bmc-secret"]
    assert {name: site.bmh(name) for name in hosts_before} == hosts_before
    assert kube_emulator.objects.get("v1", "Secret", "w-1-bmc-secret", "prod") == secret_before
    assert result.outputs["untouched_hosts"] == {
        "w-1": "used by Metal3Machine prod/edge-1-w-1",
        "w-2": "used by Metal3Machine prod/edge-1-w-2",
        "w-3": "deprovisioning",
    }


def test_a_host_in_use_needs_no_credentials(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.prepare()
    site.provisioned("w-1", cluster="edge-1")
    site.write([DEFAULT_HOSTS[0], inventory_host("w-1", bmc={**DEFAULT_HOSTS[1]["bmc"], "passwordEnv": "GONE"}), DEFAULT_HOSTS[2]])
    assert site.prepare().actions == ()


# -- capacity -------------------------------------------------------------------------


def test_a_pool_short_of_hosts_is_named_with_the_shortfall(site: Site) -> None:
    site.write(workers=[{"name": "general", "replicas": 4}])
    with pytest.raises(ProviderError) as caught:
        site.prepare()
    message = str(caught.value)
    assert "pool 'general' is short of 2 hosts (needs 4 matching" in message
    assert "dokaseca.io/environment=prod,dokaseca.io/role=worker" in message and "2 available" in message
    assert "controlPlane" not in message
    # The hosts are registered all the same: they are right, there are too few.
    assert site.bmh("w-2") is not None and "7 change(s) made before the check" in message


def test_pools_with_overlapping_selectors_do_not_share_a_host(site: Site) -> None:
    site.write(workers=[{"name": "general", "replicas": 1}, {"name": "batch", "replicas": 2}])
    with pytest.raises(ProviderError, match=r"is short of 1 host \(needs .* 1 more match but pool\(s\) .* need them") as caught:
        site.prepare(dry_run=True)
    assert "controlPlane" not in str(caught.value)


def test_autoscaled_pools_need_their_minimum_and_sizes_select_hosts(site: Site) -> None:
    hosts = [DEFAULT_HOSTS[0], inventory_host("w-1", machineSize="big"), inventory_host("w-2", machineSize="big"), inventory_host("w-3")]
    site.write(hosts, workers=[{"name": "general", "minReplicas": 1, "maxReplicas": 5}, {"name": "gpu", "replicas": 2, "machineSize": "big"}])
    result = site.prepare()
    assert result.outputs["pools"] == {
        "controlPlane": {"needs": 1, "matching": 1},
        "general": {"needs": 1, "matching": 3},
        "gpu": {"needs": 2, "matching": 2},
    }


def test_unusable_hosts_do_not_count_and_are_named(site: Site, kube_emulator: Any) -> None:
    site.prepare()
    kube_emulator.set_status(*BMH, "w-1", "prod", {"provisioning": {"state": "registering"}, "errorType": "registration error", "operationalStatus": "error"})
    site.provisioned("w-2", cluster="edge-9")
    with pytest.raises(ProviderError) as caught:
        site.prepare()
    message = str(caught.value)
    assert "pool 'general' is short of 2 hosts" in message
    assert "w-1 (registration error)" in message and "w-2 (in use by prod/edge-9-w-2)" in message


def test_hosts_this_cluster_already_took_count_for_it(site: Site) -> None:
    site.prepare()
    for name in ("cp-1", "w-1", "w-2"):
        site.provisioned(name, cluster="edge-1")
    result = site.prepare()
    assert result.outputs["pools"]["general"] == {"needs": 2, "matching": 2}
    assert set(result.outputs["untouched_hosts"]) == {"cp-1", "w-1", "w-2"}


def test_hosts_outside_the_inventory_count_too(site: Site, kube_emulator: Any) -> None:
    site.prepare()
    site.write([], workers=[{"name": "general", "replicas": 2}])
    result = site.prepare()  # hosts registered before (or by hand) are still in the namespace
    assert result.actions == () and result.outputs["hosts"] == []
    assert result.outputs["pools"]["general"]["matching"] == 2


# -- refusals before any write ------------------------------------------------------


def test_a_missing_credential_names_the_host_and_variable_and_writes_nothing(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BMC_PASSWORD")
    with pytest.raises(ProviderError) as caught:
        site.prepare()
    message = str(caught.value)
    assert "host 'cp-1' (metal3.inventory.hosts[0].bmc.passwordEnv): environment variable BMC_PASSWORD is not set" in message
    assert site.writes() == 0


def test_credentials_files_are_read_relative_to_the_inventory_file(site: Site, kube_emulator: Any, tmp_path: Path) -> None:
    (tmp_path / "dc1" / "bmc").mkdir(parents=True)
    (tmp_path / "dc1" / "bmc" / "cp-1.yaml").write_text(yaml.safe_dump({"username": "root", "password": "from-a-file"}))
    (tmp_path / "dc1" / "w.pass").write_text("worker-pass\n")
    hosts = [
        inventory_host("cp-1", "control-plane", bmc={"address": "ipmi://10.0.0.101", "credentialsFile": "bmc/cp-1.yaml"}),
        inventory_host("w-1", bmc={"address": "ipmi://10.0.0.1", "username": "root", "passwordFile": "w.pass"}),
        inventory_host("w-2"),
    ]
    (tmp_path / "dc1" / "hosts.yaml").write_text(yaml.safe_dump({"site": "dc1", "hosts": hosts}))
    site.write(inventory=None, inventoryFile="dc1/hosts.yaml")
    site.prepare()
    cp = kube_emulator.objects.get("v1", "Secret", "cp-1-bmc-secret", "prod")
    worker = kube_emulator.objects.get("v1", "Secret", "w-1-bmc-secret", "prod")
    assert (decoded(cp, "username"), decoded(cp, "password")) == ("root", "from-a-file")
    assert (decoded(worker, "username"), decoded(worker, "password")) == ("root", "worker-pass")
    assert site.bmh("w-1")["metadata"]["labels"]["dokaseca.io/site"] == "dc1"

    (tmp_path / "dc1" / "w.pass").unlink()
    with pytest.raises(ProviderError, match=r"host 'w-1' \(hosts\[1\]\.bmc\.passwordFile in .*hosts\.yaml\): cannot read .*w\.pass"):
        site.prepare()


def test_a_machine_registered_elsewhere_is_refused(site: Site, kube_emulator: Any) -> None:
    kube_emulator.objects.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}})
    stray = {"online": False, "bootMACAddress": "52:54:00:00:00:01", "bmc": {"address": "ipmi://10.9.9.9", "credentialsName": "x"}}
    kube_emulator.objects.create({"apiVersion": BMH[0], "kind": BMH[1], "metadata": {"name": "old-w-1", "namespace": "dev"}, "spec": stray})
    with pytest.raises(ProviderError) as caught:
        site.prepare()
    assert "host 'w-1' (metal3.inventory.hosts[1]) has the boot MAC of BareMetalHost dev/old-w-1" in str(caught.value)
    assert site.writes() == 0


def test_an_ip_pool_clash_is_refused_before_any_write(site: Site, kube_emulator: Any) -> None:
    network = {"mode": "static", "interface": "enp1s0", "ipPool": {"start": "172.16.10.100", "end": "172.16.10.200", "prefix": 24, "gateway": "172.16.10.1"}}
    kube_emulator.objects.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    other = {"clusterName": "edge-2", "namePrefix": "edge-2-nodes", "pools": [{"start": "172.16.10.150", "end": "172.16.10.250", "prefix": 24}]}
    kube_emulator.objects.create({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool", "metadata": {"name": "edge-2-nodes", "namespace": "prod"}, "spec": other})
    site.write(network=network)
    before = site.writes()
    with pytest.raises(ProviderError, match=r"metal3.network.ipPool 172.16.10.100-172.16.10.200 overlaps IPPool prod/edge-2-nodes"):
        site.prepare()
    assert site.writes() == before

    other["pools"] = [{"start": "172.16.10.210", "end": "172.16.10.250", "prefix": 24}]
    kube_emulator.objects.delete("ipam.metal3.io/v1alpha1", "IPPool", "edge-2-nodes", "prod")
    kube_emulator.objects.create({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool", "metadata": {"name": "edge-2-nodes", "namespace": "prod"}, "spec": other})
    assert site.prepare().outputs["ip_pool"] == "edge-1-nodes"


# -- credentials never show -----------------------------------------------------------


def test_credentials_appear_in_no_output(site: Site, kube_emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    site.prepare(dry_run=True)
    result = site.prepare()
    again = site.prepare()
    cluster = site.cluster()
    rendered = dump_all(list(render_cluster(site.host, cluster, result).objects))
    metadata = dokaseca_metal3.plugin.gitops_metadata(cluster=cluster, provider=site.host.providers["metal3"], infra=result)
    assert metadata.labels == {"metal3_site": "ams1"}
    assert metadata.annotations == {"metal3_control_plane_endpoint": "172.16.10.5", "metal3_site": "ams1", "metal3_racks": "r1"}

    site.write(workers=[{"name": "general", "replicas": 9}])
    with pytest.raises(ProviderError) as short:
        site.prepare()
    texts = {
        "result": repr(result) + json.dumps(dict(result.outputs)) + repr(again),
        "rendered": rendered,
        "metadata": repr(metadata),
        "error": str(short.value),
        "logs": caplog.text,
    }
    for where, text in texts.items():
        assert PASSWORD not in text, where
        if where != "logs":  # the kubernetes client logs response bodies (base64 Secret data) at DEBUG
            assert not any(value in text for value in ENCODED), where
    assert not any(value in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO for value in ENCODED)


def test_dokaseca_prepare_cli_registers_hosts_and_shows_no_credential(
    site: Site, kube_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = site.write()
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    monkeypatch.delenv("DOKASECA_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    runner = CliRunner()
    args = ["prepare", str(path), "--kubeconfig", str(kube_emulator.kubeconfig_path), "--context", kube_emulator.context, "--state-dir", str(tmp_path / "state")]
    plan = runner.invoke(cli, [*args, "--dry-run"])
    first = runner.invoke(cli, [*args, "--output", "json"])
    second = runner.invoke(cli, args)
    assert (plan.exit_code, first.exit_code, second.exit_code) == (0, 0, 0), plan.output + first.output + second.output
    (outcome,) = json.loads(first.stdout)  # progress lines go to stderr
    assert outcome["error"] == "" and "create BareMetalHost prod/w-2" in outcome["actions"]
    assert "up to date" in second.output
    state = "".join(p.read_text() for p in (tmp_path / "state").rglob("*") if p.is_file())
    for text in (plan.output, first.output, second.output, state):
        assert PASSWORD not in text and not any(value in text for value in ENCODED)
    assert site.bmh("w-2") is not None
