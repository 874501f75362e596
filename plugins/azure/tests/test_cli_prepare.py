"""`dokaseca prepare` and `render --prepared` as a user runs them: the CLI with
every installed plugin, the Azure SDK against the HTTPS stand-in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from azure_stand_in import CLIENT_SECRET, SUBSCRIPTION_ID, TENANT_ID
from click.testing import CliRunner

from dokaseca.cli import cli
from dokaseca.testing import fleet_yaml

CLIENT_ID = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a"  # CAPZ's identity, not the one prepare signs in with


@pytest.fixture
def fleet_file(azure, tmp_path, monkeypatch):
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    config = {
        "subscriptionId": SUBSCRIPTION_ID,
        "identity": {"clientId": CLIENT_ID, "tenantId": TENANT_ID},
        "resourceManagerEndpoint": azure.url,
        "network": {"create": True},
        "addonIdentities": {"external_dns": {}},
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_yaml("azure", config, name="web-1", environment="dev", region="westeurope"))
    return path


def dokaseca(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_dry_run_then_prepare_then_a_second_prepare_that_changes_nothing(azure, fleet_file, tmp_path):
    state = tmp_path / "state"
    planned = dokaseca("prepare", str(fleet_file), "--dry-run", "--state-dir", str(state))
    assert planned.exit_code == 0, planned.output
    assert "planned changes (dry run)" in planned.output and "~ create vnet acme-dev" in planned.output
    assert azure.mutating() == [], "a dry run changes nothing"

    made = dokaseca("prepare", str(fleet_file), "--output", "json", "--state-dir", str(state))
    assert made.exit_code == 0, made.output
    (outcome,) = json.loads(made.stdout)
    assert outcome["name"] == "web-1" and not outcome["error"] and not outcome["dry_run"]
    outputs = outcome["outputs"]
    assert (outputs["resource_group"], outputs["vnet_name"], outputs["tenant_id"]) == ("web-1", "acme-dev", TENANT_ID)
    assert outputs["addon_identities"]["external_dns"]["client_id"]
    assert "create resource group web-1 in westeurope" in outcome["actions"]
    assert "[web-1] preparing (azure)" in made.stderr and "[web-1] waiting for vnet acme-dev" in made.stderr

    azure.clear_calls()
    again = dokaseca("prepare", str(fleet_file), "--state-dir", str(state))
    assert again.exit_code == 0 and "up to date" in again.output
    assert azure.mutating() == []

    rendered = list(yaml.safe_load_all(dokaseca("render", str(fleet_file), "--prepared", "--state-dir", str(state)).output))
    (azure_cluster,) = [d for d in rendered if d["kind"] == "AzureCluster"]
    spec = azure_cluster["spec"]
    assert (spec["subscriptionID"], spec["resourceGroup"], spec["location"]) == (SUBSCRIPTION_ID, "web-1", "westeurope")
    assert spec["networkSpec"]["vnet"] == {"name": "acme-dev", "resourceGroup": "acme-dev"}
    assert {s["name"] for s in spec["networkSpec"]["subnets"]} == {s["name"] for s in outputs["subnets"]}

    saved = (state / "web-1.prepared.json").read_text()
    every_output = made.output + made.stderr + again.output + saved
    assert CLIENT_SECRET not in every_output and not any(token in every_output for token in azure.tokens_issued)


def test_missing_credentials_exit_2_naming_the_cluster_and_the_fix(azure, fleet_file, tmp_path, monkeypatch):
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    result = dokaseca("prepare", str(fleet_file), "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "web-1" in result.output and "no usable Azure credentials" in result.output and "az login" in result.output
    assert not (tmp_path / "state" / "web-1.prepared.json").exists(), "a failed prepare saves nothing"
    assert azure.arm_calls() == []


def test_without_credentials_the_reason_is_said_once_not_again_by_azure_identity(azure, fleet_file, tmp_path, monkeypatch):
    """In a process of its own, as a user runs it: pytest's log capture would hide azure-identity's warning."""
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    command = [sys.executable, "-m", "dokaseca", "prepare", str(fleet_file), "--state-dir", str(tmp_path / "state")]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    assert finished.stderr.count("no usable Azure credentials") == 1
    assert "DefaultAzureCredential failed to retrieve a token" not in finished.stderr
