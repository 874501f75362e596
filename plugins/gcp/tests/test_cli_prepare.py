"""`dokaseca prepare` and `render --prepared` as a user runs them: the CLI with
every installed plugin, the Google client libraries against the REST stand-in."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from gcp_stand_in import PROJECT

from dokaseca.cli import cli
from dokaseca.testing import fleet_yaml

REGION = "europe-west1"


@pytest.fixture
def fleet_file(gcp, tmp_path, monkeypatch):
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    config = {
        "project": PROJECT,
        "endpoints": gcp.endpoints(),
        "network": {"create": True, "subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20"}]},
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_yaml("gcp", config, name="web-1", environment="dev", region=REGION))
    return path


def dokaseca(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_dry_run_then_prepare_then_a_second_prepare_that_changes_nothing(gcp, fleet_file, tmp_path):
    state = str(tmp_path / "state")
    planned = dokaseca("prepare", str(fleet_file), "--dry-run", "--state-dir", state)
    assert planned.exit_code == 0, planned.output
    assert "planned changes (dry run)" in planned.output and "~ create network acme-dev (custom mode)" in planned.output
    assert gcp.mutating() == [], "a dry run changes nothing"

    made = dokaseca("prepare", str(fleet_file), "--output", "json", "--state-dir", state)
    assert made.exit_code == 0, made.output
    (outcome,) = json.loads(made.stdout)
    assert outcome["name"] == "web-1" and not outcome["error"] and not outcome["dry_run"]
    assert outcome["outputs"]["network"] == "acme-dev" and outcome["outputs"]["project_id"] == PROJECT
    assert "create subnet nodes 10.10.0.0/20 in europe-west1" in outcome["actions"]
    assert "[web-1] preparing (gcp)" in made.stderr and "[web-1] waiting for network acme-dev" in made.stderr
    saved = (tmp_path / "state" / "web-1.prepared.json").read_text()
    assert "PRIVATE KEY" not in saved and gcp.state.token not in saved

    gcp.clear_calls()
    again = dokaseca("prepare", str(fleet_file), "--state-dir", state)
    assert again.exit_code == 0 and "up to date" in again.output
    assert gcp.mutating() == []

    rendered = list(yaml.safe_load_all(dokaseca("render", str(fleet_file), "--prepared", "--state-dir", state).output))
    (gcp_cluster,) = [d for d in rendered if d["kind"] == "GCPCluster"]
    assert gcp_cluster["spec"]["project"] == PROJECT
    assert gcp_cluster["spec"]["network"]["name"] == "acme-dev"
    assert gcp_cluster["spec"]["network"]["subnets"] == [{"name": "nodes", "cidrBlock": "10.10.0.0/20", "region": REGION}]


def test_missing_credentials_exit_2_naming_the_cluster_and_the_fix(gcp, fleet_file, tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    result = dokaseca("prepare", str(fleet_file), "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "web-1" in result.output and "gcloud auth application-default login" in result.output
    assert not (tmp_path / "state" / "web-1.prepared.json").exists(), "a failed prepare saves nothing"
