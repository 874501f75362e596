"""`dokaseca prepare`, `render --prepared` and `apply --no-prepare` as a user runs
them: the CLI with every installed plugin, boto3 against moto's server, the
management cluster an API emulator."""

from __future__ import annotations

import json

import pytest
import yaml
from aws_stand_in import ACCOUNT_ID
from click.testing import CliRunner

from dokaseca.cli import cli
from dokaseca.testing import fleet_yaml

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIR0l92jLFwdmDz+m6sCW1WywguLXXzRit81Q8TCS3Rf ops@acme"
AWS = {"sshKeyName": "platform", "sshPublicKey": KEY, "network": {"create": True}, "amiLookup": {"owner": ACCOUNT_ID}}


@pytest.fixture
def fleet_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_yaml("aws", AWS, name="web-1", environment="dev", region="eu-west-1"))
    return path


def dokaseca(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_dry_run_then_prepare_then_a_second_prepare_that_changes_nothing(aws, fleet_file, tmp_path):
    state = str(tmp_path / "state")
    planned = dokaseca("prepare", str(fleet_file), "--dry-run", "--state-dir", state)
    assert planned.exit_code == 0, planned.output
    assert "planned changes (dry run)" in planned.output and "~ create VPC" in planned.output
    assert aws.mutating() == [], "a dry run changes nothing"

    made = dokaseca("prepare", str(fleet_file), "--output", "json", "--state-dir", state)
    assert made.exit_code == 0, made.output
    (outcome,) = json.loads(made.stdout)
    assert outcome["name"] == "web-1" and not outcome["error"] and not outcome["dry_run"]
    assert outcome["outputs"]["vpc_id"].startswith("vpc-") and outcome["outputs"]["account_id"] == ACCOUNT_ID
    assert any(a.startswith("create VPC") for a in outcome["actions"])
    assert "[web-1] preparing (aws)" in made.stderr, "progress per cluster, on stderr"

    aws.clear_calls()
    again = dokaseca("prepare", str(fleet_file), "--state-dir", state)
    assert again.exit_code == 0 and "up to date" in again.output
    assert aws.mutating() == []

    rendered = list(yaml.safe_load_all(dokaseca("render", str(fleet_file), "--prepared", "--state-dir", state).output))
    (aws_cluster,) = [d for d in rendered if d["kind"] == "AWSCluster"]
    assert aws_cluster["spec"]["network"]["vpc"]["id"] == outcome["outputs"]["vpc_id"]
    assert {s["id"] for s in aws_cluster["spec"]["network"]["subnets"]} == set(outcome["outputs"]["subnet_ids"])
    machine = next(d for d in rendered if d["kind"] == "AWSMachineTemplate")
    assert machine["spec"]["template"]["spec"]["ami"]["id"] == outcome["outputs"]["ami_id"]


def test_apply_prepares_first_and_the_applied_cluster_uses_what_prepare_made(aws, fleet_file, tmp_path, kube_emulator):
    result = dokaseca(
        "apply", str(fleet_file), "--no-wait", "--output", "json", "--state-dir", str(tmp_path / "state"),
        "--kubeconfig", str(kube_emulator.kubeconfig_path), "--context", kube_emulator.context,
    )
    assert result.exit_code == 0, result.output
    (vpc,) = [v["VpcId"] for v in aws_vpcs()]
    (live,) = kube_emulator.objects.list(api_version="infrastructure.cluster.x-k8s.io/v1beta2", kind="AWSCluster", namespace="dev")
    assert live["spec"]["network"]["vpc"]["id"] == vpc


def aws_vpcs():
    import boto3

    return boto3.client("ec2").describe_vpcs(Filters=[{"Name": "tag:dokaseca.io/network", "Values": ["acme-dev"]}])["Vpcs"]


def test_missing_credentials_exit_2_naming_the_cluster_and_the_fix(aws, fleet_file, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    result = dokaseca("prepare", str(fleet_file), "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "web-1" in result.output and "credentials" in result.output.lower()
    assert not (tmp_path / "state" / "web-1.prepared.json").exists(), "a failed prepare saves nothing"
