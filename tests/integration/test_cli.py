"""The `dokaseca` command end to end, with the installed providers, on the bundled example."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dokaseca.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "fleet.yaml")


@pytest.fixture
def run(monkeypatch):
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    monkeypatch.delenv("DOKASECA_DISABLE_PLUGIN_AUTOLOAD", raising=False)

    def invoke(*args):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


BAD_FLEET = """
apiVersion: dokaseca.io/v1alpha1
kind: Fleet
metadata: {name: bad}
defaults: {kubernetesVersion: v1.33.1}
clusters:
  - {name: dev-1, environment: dev, provider: aws, region: eu-west-1, aws: {amiId: not-an-ami}}
  - {name: dev-2, environment: dve, provider: aws, region: eu-west-1}
"""


def test_render_prints_every_cluster_in_apply_order(run):
    result = run("render", EXAMPLE)
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.output))
    assert [d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"] == ["dev", "prod", "stg"]
    assert documents[0]["kind"] == "Namespace"
    assert [d["metadata"]["name"] for d in documents if d["kind"] == "Cluster"] == ["dev-eu-1", "stg-eu-1", "prod-eu-1"]
    assert run("render", EXAMPLE).output == result.output, "byte-identical across runs"


def test_render_json_is_a_kubectl_list(run):
    listing = json.loads(run("render", EXAMPLE, "--output", "json").output)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert listing["items"] == list(yaml.safe_load_all(run("render", EXAMPLE).output))


def test_validate_shows_a_table_of_clusters(run):
    result = run("validate", EXAMPLE)
    assert result.exit_code == 0
    for text in ("prod-eu-1", "general:3-10", "clusterclass", "v1.32.5"):
        assert text in result.output


def test_render_filters(run):
    documents = list(yaml.safe_load_all(run("render", EXAMPLE, "--env", "prod").output))
    assert {d["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] for d in documents if d["kind"] != "Namespace"} == {"prod-eu-1"}
    documents = list(yaml.safe_load_all(run("render", EXAMPLE, "--cluster", "stg-eu-1").output))
    assert [d["kind"] for d in documents].count("ClusterClass") == 1
    result = run("render", EXAMPLE, "--cluster", "stg-eu-2")
    assert result.exit_code == 2 and "did you mean 'stg-eu-1'" in result.output


def test_render_to_directory(run, tmp_path):
    out = tmp_path / "out"
    result = run("render", EXAMPLE, "-o", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml"))
    assert files == [
        "dev/dev-eu-1/cluster.yaml",
        "dev/namespace-dev.yaml",
        "prod/namespace-prod.yaml",
        "prod/prod-eu-1/cluster.yaml",
        "stg/namespace-stg.yaml",
        "stg/stg-eu-1/cluster.yaml",
    ]
    cluster = [d for d in yaml.safe_load_all((out / "prod/prod-eu-1/cluster.yaml").read_text()) if d["kind"] == "Cluster"]
    assert cluster[0]["metadata"]["namespace"] == "prod"


def test_render_gitops_repository_layout(run, tmp_path):
    out = tmp_path / "repo"
    result = run("render", EXAMPLE, "-o", str(out), "--gitops-repo", "https://git.example/fleet", "--gitops-base-path", "capi")
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml"))
    assert "capi/bootstrap/applicationset.yaml" in files
    assert "capi/clusters/prod/prod-eu-1/cluster.yaml" in files
    appset = [d for d in yaml.safe_load_all((out / "capi/bootstrap/applicationset.yaml").read_text()) if d["kind"] == "ApplicationSet"]
    assert appset and appset[0]["spec"]["generators"][0]["git"]["repoURL"] == "https://git.example/fleet"
    assert run("render", EXAMPLE, "--gitops-repo", "https://git.example/fleet").exit_code == 2


def test_bad_fleet_exits_2_lists_every_problem_and_writes_nothing(run, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(BAD_FLEET)
    out = tmp_path / "out"
    result = run("render", str(fleet), "-o", str(out))
    assert result.exit_code == 2
    assert "clusters[0].aws.amiId" in result.output and "ami-" in result.output
    assert "clusters[1].environment" in result.output and "did you mean 'dev'" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_validate_json_output(run, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(BAD_FLEET)
    result = run("validate", str(fleet), "--output", "json")
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert report["ok"] is False
    assert {p["path"] for p in report["problems"]} == {"clusters[0].aws.amiId", "clusters[1].environment"}
    ok = run("validate", EXAMPLE, "--output", "json")
    assert ok.exit_code == 0 and json.loads(ok.output)["clusters"] == ["dev-eu-1", "stg-eu-1", "prod-eu-1"]


def test_validate_against_crds(run, shared_folder):
    result = run("validate", EXAMPLE, "--crds", str(shared_folder / "crds"))
    assert result.exit_code == 0, result.output
    assert "against the CRDs: ok" in result.output


def test_missing_file_is_a_clear_error(run, tmp_path):
    result = run("render", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "cannot read the fleet file" in result.output


def test_plugins_lists_installed_providers_and_sdks(run):
    rows = json.loads(run("plugins", "--output", "json").output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["aws"]["providers"] == ["aws"]
    assert by_name["aws"]["distribution"] == "dokaseca-aws"
    assert by_name["aws"]["sdk_installed"] is True
    assert "render_provider_manifests" in by_name["aws"]["hooks"]
    assert not any(r["origin"] == "default" for r in rows)
    everything = json.loads(run("plugins", "--all", "--output", "json").output)
    assert {"standard_labels", "gitops_metadata"} <= {r["name"] for r in everything}
    only = json.loads(run("plugins", "--all", "--hook", "prepare_infrastructure", "--output", "json").output)
    assert "aws" in {r["name"] for r in only} and "standard_labels" not in {r["name"] for r in only}
    assert all("prepare_infrastructure" in r["hooks"] for r in only)
    table = run("plugins")
    assert table.exit_code == 0 and "aws" in table.output


def test_no_plugin_and_allow_list(run, monkeypatch):
    rows = json.loads(run("--no-plugin", "aws", "plugins", "--output", "json").output)
    assert next(r for r in rows if r["name"] == "aws")["status"] == "blocked"
    monkeypatch.setenv("DOKASECA_PLUGINS", "")
    result = run("validate", EXAMPLE)
    assert result.exit_code == 2 and "pip install dokaseca-aws" in result.output


def test_explain_shows_value_and_layer(run):
    report = json.loads(run("explain", EXAMPLE, "prod-eu-1", "--output", "json").output)
    settings = {s["path"]: s for s in report["settings"]}
    assert settings["kubernetesVersion"] == {"path": "kubernetesVersion", "value": "v1.32.5", "source": "environments.prod"}
    assert settings["aws.sshKeyName"]["source"] == "defaults"
    assert settings["aws.instanceType"] == {"path": "aws.instanceType", "value": "t3.large", "source": "default of the aws provider"}
    assert settings["workers.ingress.taints"]["value"] == [{"key": "dedicated", "value": "ingress", "effect": "NoSchedule"}]
    table = run("explain", EXAMPLE, "prod-eu-1")
    assert table.exit_code == 0 and "environments.prod" in table.output


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "dokaseca", "--help"], capture_output=True, text=True, check=True)
    for command in ("render", "validate", "plugins", "explain"):
        assert command in result.stdout


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_bundled_example_renders_valid_manifests(run, shared_folder, example):
    result = run("validate", str(example), "--crds", str(shared_folder / "crds"))
    assert result.exit_code == 0, result.output


def test_multi_cloud_example_uses_every_provider(run):
    documents = list(yaml.safe_load_all(run("render", str(ROOT / "examples" / "multi-cloud.yaml")).output))
    kinds = {d["kind"] for d in documents}
    assert {"AWSCluster", "AWSManagedControlPlane", "AzureCluster", "GCPClusterTemplate", "VSphereCluster", "Metal3Cluster"} <= kinds
    assert {d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"} == {
        "hub", "prod-eks-euc1", "prod-azure-we", "prod-aks-we", "prod-gcp-ew1", "prod-gke-ew1", "stg-vsphere-dc1", "dev-metal-r1",
    }
