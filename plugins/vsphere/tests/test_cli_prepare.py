"""`dokaseca prepare` and `render --prepared` as a user runs them: the CLI with
every installed plugin, pyVmomi against the vCenter stand-in."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from vsphere_stand_in import PASSWORD

from dokaseca.cli import cli
from dokaseca.testing import by_kind, one

FOLDER = "/dc1/vm/acme-dev"
POOL = "/dc1/host/cluster1/Resources/acme-dev"


@pytest.fixture
def fleet_file(tmp_path, monkeypatch, fleet):
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet.text())
    return path


def dokaseca(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_dry_run_then_prepare_then_a_second_prepare_that_changes_nothing(vcenter, fleet_file, tmp_path):
    state = tmp_path / "state"
    planned = dokaseca("prepare", str(fleet_file), "--dry-run", "--state-dir", str(state))
    assert planned.exit_code == 0, planned.output
    assert "planned changes (dry run)" in planned.output
    assert f"~ create VM folder {FOLDER}" in planned.output and f"~ create resource pool {POOL}" in planned.output
    assert vcenter.mutating() == [], "a dry run changes nothing"

    made = dokaseca("prepare", str(fleet_file), "--output", "json", "--state-dir", str(state))
    assert made.exit_code == 0, made.output
    (outcome,) = json.loads(made.stdout)
    assert outcome["name"] == "web-1" and not outcome["error"] and not outcome["dry_run"]
    assert outcome["actions"] == [f"create VM folder {FOLDER}", f"create resource pool {POOL}"]
    assert outcome["outputs"]["template"] == "/dc1/vm/templates/ubuntu-2404-kube-v1.33.1"
    assert "[web-1] preparing (vsphere)" in made.stderr, "progress per cluster, on stderr"
    assert vcenter.mutating() == ["CreateFolder", "CreateResourcePool"]

    vcenter.clear_calls()
    again = dokaseca("prepare", str(fleet_file), "--state-dir", str(state))
    assert again.exit_code == 0 and "up to date" in again.output
    assert vcenter.mutating() == []
    saved = (state / "web-1.prepared.json").read_text()
    assert PASSWORD not in saved and json.loads(saved) == outcome["outputs"]


def test_render_prepared_places_the_machines_where_prepare_checked(vcenter, fleet_file, tmp_path):
    state = str(tmp_path / "state")
    assert dokaseca("prepare", str(fleet_file), "--state-dir", state).exit_code == 0

    text = dokaseca("render", str(fleet_file), "--prepared", "--state-dir", state).output
    objects = list(yaml.safe_load_all(text))

    assert one(objects, "VSphereCluster")["spec"]["server"] == vcenter.server
    for template in by_kind(objects, "VSphereMachineTemplate"):
        machine = template["spec"]["template"]["spec"]
        assert {key: machine.get(key) for key in ("datacenter", "datastore", "folder", "resourcePool", "template")} == {
            "datacenter": "/dc1",
            "datastore": "/dc1/datastore/vsanDatastore",
            "folder": FOLDER,
            "resourcePool": POOL,
            "template": "/dc1/vm/templates/ubuntu-2404-kube-v1.33.1",
        }
        assert machine["network"]["devices"][0]["networkName"] == "/dc1/network/k8s-nodes"
    offline = list(yaml.safe_load_all(dokaseca("render", str(fleet_file)).output))
    assert "folder" not in by_kind(offline, "VSphereMachineTemplate")[0]["spec"]["template"]["spec"]  # vCenter's default offline
    assert PASSWORD not in text


@pytest.mark.parametrize("before, after", [((), ()), ((), ("--output", "json")), (("--debug",), ())])
def test_a_wrong_password_exits_2_without_showing_it(vcenter, fleet_file, tmp_path, monkeypatch, before, after):
    monkeypatch.setenv("VSPHERE_PASSWORD", "Wr0ng-pa55word-kept-secret")
    result = dokaseca(*before, "prepare", str(fleet_file), "--state-dir", str(tmp_path / "state"), *after)

    assert result.exit_code == 2, result.output
    shown = result.stdout + result.stderr
    assert "refused the login of 'administrator@vsphere.local' (from VSPHERE_USERNAME/VSPHERE_PASSWORD)" in shown
    assert "Wr0ng-pa55word-kept-secret" not in shown and PASSWORD not in shown
    assert not (tmp_path / "state" / "web-1.prepared.json").exists(), "a failed prepare saves nothing"
