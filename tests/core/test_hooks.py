"""One test per hook: how the core calls it and how results combine (datasette's rule:
every hook in hookspecs.py has a test_hook_<name> somewhere in tests/)."""


import fake_provider
import pytest
from fake_provider import BASE_FLEET

from dokaseca import hookimpl
from dokaseca.gitops import cluster_metadata
from dokaseca.kube import ManagementCluster
from dokaseca.models import BootstrapResult, CheckResult, GitOpsMetadata, InfraResult
from dokaseca.plugins import load_plugins


def fleet_cluster(host):
    from dokaseca.config import parse_fleet

    text = BASE_FLEET + "    addons: {cert_manager: true, velero: false}\ngitops:\n  addons: {url: 'https://git.example/addons', revision: v2, basePath: argocd/}\n"
    return parse_fleet(text, host).clusters[0]


def test_hook_register_providers_records_the_registering_plugin():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider)])
    assert host.providers["fake"].plugin == "fake"
    assert host.providers["fake"].flavors == ("kubeadm", "managed")


class Preparer:
    def __init__(self, name, answer):
        self.name, self.answer = name, answer

    @hookimpl
    def prepare_infrastructure(self, cluster, provider, dry_run):
        if provider.name != self.name:
            return None
        return InfraResult(outputs={"by": self.answer, "dry_run": dry_run})


def test_hook_prepare_infrastructure_first_answer_wins():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider), ("other", Preparer("other", "x")), ("mine", Preparer("fake", "mine"))])
    cluster = fleet_cluster(host)
    management = ManagementCluster("/nonexistent/kubeconfig")  # neither preparer connects
    result = host.hook.prepare_infrastructure(cluster=cluster, provider=host.providers["fake"], dry_run=True, management=management)
    assert result.outputs == {"by": "mine", "dry_run": True}


def test_hook_render_provider_manifests_answers_only_for_its_provider():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider)])
    cluster = fleet_cluster(host)
    provided = host.hook.render_provider_manifests(cluster=cluster, provider=host.providers["fake"], infra=InfraResult())
    assert provided.infrastructure_cluster["kind"] == "FakeCluster"


class Metadata:
    @hookimpl
    def gitops_metadata(self, cluster, provider, infra):
        return GitOpsMetadata(labels={"environment": "overridden", "team": "a"}, annotations={"fake_zone": infra.outputs.get("zone", "")})


def test_hook_gitops_metadata_merges_with_installed_plugins_first():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider), ("meta", Metadata())])
    cluster = fleet_cluster(host)
    merged = cluster_metadata(host, cluster, InfraResult(outputs={"zone": "z1"}))
    assert merged.labels["environment"] == "overridden"  # the installed plugin wins over the default
    assert merged.labels["team"] == "a"
    assert merged.labels["cluster_name"] == "dev-1"
    assert merged.labels["enable_cert_manager"] == "true" and merged.labels["enable_velero"] == "false"
    assert merged.labels["kubernetes_version"] == "1.33"
    assert merged.annotations["addons_repo_url"] == "https://git.example/addons"
    assert merged.annotations["addons_repo_basepath"] == "argocd/"
    assert merged.annotations["fake_zone"] == "z1"
    assert "workload_repo_url" not in merged.annotations


class Engine:
    def __init__(self, engine):
        self.engine = engine

    @hookimpl
    def bootstrap_gitops(self, cluster, engine, kubeconfig, metadata):
        if engine != self.engine:
            return None
        return BootstrapResult(engine=engine, ready=True, message=metadata.labels["cluster_name"])


def test_hook_bootstrap_gitops_is_answered_by_the_engine_asked_for():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider), ("argo", Engine("argocd")), ("flux", Engine("flux"))])
    cluster = fleet_cluster(host)
    metadata = GitOpsMetadata(labels={"cluster_name": cluster.name})
    call = {"kubeconfig": "/dev/null", "metadata": metadata, "hub_kubeconfig": None, "timeout": 1.0}
    result = host.hook.bootstrap_gitops(cluster=cluster, engine="argocd", **call)
    assert (result.engine, result.message) == ("argocd", "dev-1")
    assert host.hook.bootstrap_gitops(cluster=cluster, engine="rancher-fleet", **call) is None


class Checker:
    @hookimpl
    def check_credentials(self, provider, online):
        if provider.name != "fake":
            return None
        return CheckResult(ok=False, summary="no token", hint="set FAKE_TOKEN")


def test_hook_check_credentials_first_answer_wins():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider), ("check", Checker())])
    result = host.hook.check_credentials(provider=host.providers["fake"], online=False)
    assert (result.ok, result.hint) == (False, "set FAKE_TOKEN")


def test_every_hook_has_a_test_and_documentation():
    import inspect
    import re
    from pathlib import Path

    from dokaseca import hookspecs

    root = Path(__file__).resolve().parents[2]
    tests = "\n".join(p.read_text() for p in (root / "tests").rglob("test_*.py"))
    docs = (root / "docs" / "hooks.md").read_text()
    specs = [name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, "dokaseca_spec")]
    assert len(specs) == 8
    for name in specs:
        assert f"def test_hook_{name}" in tests, f"no test_hook_{name}"
        assert re.search(rf"^## `{name}\(", docs, re.M), f"docs/hooks.md has no section for {name}"
        for argument in inspect.signature(getattr(hookspecs, name)).parameters:
            assert f"`{argument}`" in docs.split(f"## `{name}(", 1)[1].split("\n## ", 1)[0], f"{name}: argument {argument} undocumented"


def test_hook_check_cluster_problems_are_reported_at_the_cluster_path():
    from dokaseca.config import parse_fleet
    from dokaseca.errors import FleetError

    host = load_plugins(autoload=False, extra=[("fake", fake_provider)])
    import yaml

    data = yaml.safe_load(BASE_FLEET)
    data["clusters"][0].update(region="eu", fake={"zone": "us-1"})
    with pytest.raises(FleetError) as caught:
        parse_fleet(yaml.safe_dump(data), host)
    assert [(p.path, p.value) for p in caught.value.problems] == [("clusters[0].fake.zone", "us-1")]
    data["clusters"][0]["fake"]["zone"] = "eu-1"
    assert parse_fleet(yaml.safe_dump(data), host).clusters[0].provider_config.zone == "eu-1"
