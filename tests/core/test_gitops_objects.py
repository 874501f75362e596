"""GitOps bootstrap objects (Argo CD GitOps Bridge, Flux), checked for content and against the upstream CRDs."""

import json
import re

import fake_provider
import pytest
import yaml
from fake_provider import BASE_FLEET

from dokaseca import hookimpl
from dokaseca.config import parse_fleet
from dokaseca.gitops import cluster_metadata
from dokaseca.gitops_objects import (
    IN_CLUSTER_SERVER,
    argocd_bootstrap_objects,
    argocd_cluster_secret,
    argocd_project,
    argocd_root_application,
    argocd_workloads_application,
    bearer_token_config,
    capi_applicationset,
    capi_project,
    flux_bootstrap_objects,
    flux_cluster_metadata_configmap,
    flux_git_ref,
    flux_git_repository,
    flux_kustomization,
    gitops_repository_layout,
    join_repo_path,
    namespace_object,
    substitution_variable,
)
from dokaseca.manifests import dump_all
from dokaseca.models import GitOpsMetadata
from dokaseca.plugins import load_plugins
from dokaseca.render import render_clusters
from dokaseca.testing import crd_schemas_for

ADDONS = {"url": "https://git.example/platform-addons", "revision": "main", "basePath": "argocd/", "path": "bootstrap"}
WORKLOADS = {"url": "https://git.example/platform-workloads", "revision": "v1.4.0", "path": "apps"}
BEARER_TOKEN = "eyJhbGciOiJSUzI1NiJ9.spoke-token-that-must-stay-secret"
CA_DATA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def load_clusters(host, gitops, *, extra_clusters=(), management=None):
    data = yaml.safe_load(BASE_FLEET)
    data["defaults"]["addons"] = {"metrics_server": True, "cert_manager": False}
    data["clusters"] += list(extra_clusters)
    data["gitops"] = gitops
    if management:
        data["management"] = management
    return {c.name: c for c in parse_fleet(yaml.safe_dump(data), host).clusters}


def standalone(host, engine="argocd", **repos):
    gitops = {"engine": engine, "topology": "standalone", "addons": ADDONS, "workloads": WORKLOADS, **repos}
    return load_clusters(host, {k: v for k, v in gitops.items() if v is not None})["dev-1"]


def hub_and_spoke(host):
    hub = {"name": "hub", "environment": "prod", "provider": "fake", "region": "local"}
    gitops = {"engine": "argocd", "topology": "hub-spoke", "hub": "hub", "addons": ADDONS, "workloads": WORKLOADS}
    return load_clusters(host, gitops, extra_clusters=[hub])


def assert_valid(objects):
    objects = list(objects)
    custom = [o for o in objects if o["apiVersion"] != "v1"]
    assert custom, "nothing to check against the CRDs"
    problems = crd_schemas_for(("argocd", "flux")).validate_all(objects)
    assert not problems, "\n".join(f"{p.document} {p.path}: {p.message}" for p in problems)
    for obj in objects:  # built-in kinds are skipped by the CRD check: their labels at least must be valid
        for key, value in obj["metadata"].get("labels", {}).items():
            assert LABEL_VALUE.match(value) and len(value) <= 63, f"{obj['kind']} label {key}={value!r}"


# -- Argo CD -----------------------------------------------------------------


def test_standalone_cluster_secret_registers_the_cluster_in_cluster_with_its_metadata(host):
    cluster = standalone(host)
    secret = argocd_cluster_secret(cluster, cluster_metadata(host, cluster), server=IN_CLUSTER_SERVER)
    assert secret["metadata"]["name"] == "dev-1" and secret["metadata"]["namespace"] == "argocd"
    labels = secret["metadata"]["labels"]
    assert labels["argocd.argoproj.io/secret-type"] == "cluster"
    assert {k: labels[k] for k in ("cluster_name", "environment", "fleet", "cloud", "region", "kubernetes_version")} == {
        "cluster_name": "dev-1",
        "environment": "dev",
        "fleet": "test",
        "cloud": "fake",
        "region": "local",
        "kubernetes_version": "1.33",
    }
    assert labels["enable_metrics_server"] == "true" and labels["enable_cert_manager"] == "false"
    annotations = secret["metadata"]["annotations"]
    assert annotations["addons_repo_url"] == ADDONS["url"]
    assert annotations["addons_repo_basepath"] == "argocd/" and annotations["addons_repo_path"] == "bootstrap"
    assert annotations["workload_repo_revision"] == "v1.4.0"
    assert secret["stringData"] == {"name": "dev-1", "server": "https://kubernetes.default.svc"}, "in-cluster: no config"
    assert secret["type"] == "Opaque"


def test_metadata_cannot_replace_the_secret_type_label(host):
    cluster = standalone(host)
    metadata = GitOpsMetadata(labels={"argocd.argoproj.io/secret-type": "repository"})
    secret = argocd_cluster_secret(cluster, metadata, server=IN_CLUSTER_SERVER, name="in-cluster")
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    assert secret["metadata"]["name"] == "in-cluster" and secret["stringData"]["name"] == "dev-1"


def test_standalone_project_and_bootstrap_applications(host):
    cluster = standalone(host)
    project = argocd_project(cluster)
    assert project["metadata"] == {
        "name": "test",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/managed-by": "dokaseca", "dokaseca.io/fleet": "test"},
    }
    assert project["spec"]["sourceRepos"] == [ADDONS["url"], WORKLOADS["url"]]
    assert project["spec"]["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "*"}]
    assert project["spec"]["clusterResourceWhitelist"] == [{"group": "*", "kind": "*"}]

    root = argocd_root_application(cluster)
    assert root["metadata"]["name"] == "addons" and root["metadata"]["namespace"] == "argocd"
    assert "finalizers" not in root["metadata"], "deleting the root app must not delete every addon"
    spec = root["spec"]
    assert spec["project"] == "test"
    assert spec["source"] == {
        "repoURL": ADDONS["url"],
        "targetRevision": "main",
        "path": "argocd/bootstrap",
        "directory": {"recurse": True, "exclude": "exclude/*"},
    }
    assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "argocd"}
    assert spec["syncPolicy"] == {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
        "retry": {"limit": -1, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
    }

    workloads = argocd_workloads_application(cluster)
    assert workloads["metadata"]["name"] == "workloads"
    assert workloads["spec"]["source"]["path"] == "apps"
    assert workloads["spec"]["source"]["targetRevision"] == "v1.4.0"
    assert workloads["spec"]["syncPolicy"] == spec["syncPolicy"]
    assert_valid([project, root, workloads])


def test_no_workloads_application_without_a_workloads_repository(host):
    cluster = standalone(host, workloads=None)
    assert argocd_workloads_application(cluster) is None
    assert argocd_project(cluster)["spec"]["sourceRepos"] == [ADDONS["url"]]
    kinds = [o["kind"] for o in argocd_bootstrap_objects(cluster, cluster_metadata(host, cluster))]
    assert kinds == ["Namespace", "Secret", "AppProject", "Application"]


def test_bootstrap_objects_in_apply_order_and_valid(host):
    cluster = standalone(host)
    objects = argocd_bootstrap_objects(cluster, cluster_metadata(host, cluster))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "argocd"),
        ("Secret", "dev-1"),
        ("AppProject", "test"),
        ("Application", "addons"),
        ("Application", "workloads"),
    ]
    assert_valid(objects)
    assert dump_all(objects) == dump_all(argocd_bootstrap_objects(cluster, cluster_metadata(host, cluster))), "deterministic"


def test_hub_project_reaches_every_cluster_and_spokes_run_no_argocd(host):
    clusters = hub_and_spoke(host)
    hub, spoke = clusters["hub"], clusters["dev-1"]
    assert argocd_project(hub)["spec"]["destinations"] == [{"server": "*", "namespace": "*"}]
    assert argocd_root_application(hub)["spec"]["destination"]["server"] == IN_CLUSTER_SERVER
    for render in (argocd_project, argocd_root_application, argocd_workloads_application):
        with pytest.raises(ValueError, match="spoke of hub 'hub'"):
            render(spoke)


def test_spoke_secret_keeps_the_bearer_token_in_string_data_only(host):
    clusters = hub_and_spoke(host)
    spoke = clusters["dev-1"]
    secret = argocd_cluster_secret(
        spoke,
        cluster_metadata(host, spoke),
        server="https://10.0.0.10:6443",
        config=bearer_token_config(BEARER_TOKEN, CA_DATA),
    )
    assert secret["stringData"]["server"] == "https://10.0.0.10:6443"
    assert json.loads(secret["stringData"]["config"]) == {"bearerToken": BEARER_TOKEN, "tlsClientConfig": {"caData": CA_DATA}}
    everything_else = {key: value for key, value in secret.items() if key != "stringData"}
    assert BEARER_TOKEN not in dump_all([everything_else])
    assert secret["metadata"]["labels"]["environment"] == "dev"
    hub_objects = argocd_bootstrap_objects(clusters["hub"], cluster_metadata(host, clusters["hub"]))
    assert BEARER_TOKEN not in dump_all(hub_objects)
    assert_valid([*hub_objects, secret])


def test_a_credential_in_labels_or_annotations_is_refused_without_echoing_it(host):
    cluster = standalone(host)
    leaky = GitOpsMetadata(labels={"cluster_name": "dev-1"}, annotations={"debug_token": BEARER_TOKEN})
    with pytest.raises(ValueError) as refused:
        argocd_cluster_secret(cluster, leaky, server="https://10.0.0.10:6443", config=bearer_token_config(BEARER_TOKEN, CA_DATA))
    assert "annotation 'debug_token'" in str(refused.value)
    assert BEARER_TOKEN not in str(refused.value)


def test_argocd_objects_refuse_a_flux_cluster(host):
    cluster = standalone(host, engine="flux")
    with pytest.raises(ValueError, match="engine 'flux', not 'argocd'"):
        argocd_root_application(cluster)


# -- repository paths --------------------------------------------------------


@pytest.mark.parametrize(
    ("base_path", "path", "joined"),
    [
        ("argocd/", "bootstrap", "argocd/bootstrap"),  # GitOps Bridge style: trailing slash
        ("argocd", "bootstrap", "argocd/bootstrap"),  # DoKa Seca style: no slash
        ("argocd/", "/bootstrap", "argocd/bootstrap"),  # both: no "//"
        ("/gitops/argocd/", "bootstrap/control-plane/", "gitops/argocd/bootstrap/control-plane"),
        ("./argocd", "./bootstrap", "argocd/bootstrap"),
        ("a//b", "c", "a/b/c"),
        ("", "bootstrap", "bootstrap"),
        ("argocd/", "", "argocd"),
        ("", "", ""),
    ],
)
def test_base_path_and_path_join_with_one_slash(base_path, path, joined):
    assert join_repo_path(base_path, path) == joined


def test_paths_that_climb_out_of_the_repository_are_refused():
    with pytest.raises(ValueError, match=r"\.\."):
        join_repo_path("argocd", "../secrets")


def test_root_application_at_the_repository_root(host):
    cluster = standalone(host, engine="argocd", addons={"url": ADDONS["url"], "path": ""})
    assert argocd_root_application(cluster)["spec"]["source"]["path"] == "."
    assert argocd_root_application(cluster)["spec"]["source"]["targetRevision"] == "HEAD"


# -- Flux --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revision", "ref"),
    [
        ("main", {"branch": "main"}),
        ("release/2025-q3", {"branch": "release/2025-q3"}),
        ("HEAD", {"branch": "main"}),
        ("v1.2.3", {"tag": "v1.2.3"}),
        ("1.2.3", {"tag": "1.2.3"}),
        ("v2.0.0-rc.1", {"tag": "v2.0.0-rc.1"}),
        ("v1.2", {"branch": "v1.2"}),
        ("0123456789abcdef0123456789abcdef01234567", {"commit": "0123456789abcdef0123456789abcdef01234567"}),
        ("0123456789ABCDEF0123456789ABCDEF01234567", {"commit": "0123456789abcdef0123456789abcdef01234567"}),
        ("0123456789abcdef", {"branch": "0123456789abcdef"}),  # a short SHA is not enough for Flux
        ("refs/heads/main", {"name": "refs/heads/main"}),
        ("refs/pull/42/head", {"name": "refs/pull/42/head"}),
    ],
)
def test_flux_ref_kind_follows_the_revision(revision, ref):
    assert flux_git_ref(revision) == ref


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("enable_cert_manager", "enable_cert_manager"),
        ("addons_repo_url", "addons_repo_url"),
        ("dokaseca.io/team-a", "dokaseca_io_team_a"),
        ("aws.vpc-id", "aws_vpc_id"),
        ("1st_pool", "_1st_pool"),
    ],
)
def test_substitution_variable_names(key, variable):
    assert substitution_variable(key) == variable
    assert re.match(r"^[_a-zA-Z][_a-zA-Z0-9]*$", variable)


class TeamMetadata:
    @hookimpl
    def gitops_metadata(self, cluster, provider, infra):
        return GitOpsMetadata(labels={"dokaseca.io/team-a": "true"}, annotations={"aws.vpc-id": "vpc-0abc"})


def test_flux_objects_carry_repository_and_metadata(host):
    host = load_plugins(autoload=False, extra=[("fake", fake_provider), ("team", TeamMetadata())])
    cluster = standalone(host, engine="flux")
    metadata = cluster_metadata(host, cluster)

    configmap = flux_cluster_metadata_configmap(cluster, metadata)
    assert configmap["metadata"]["name"] == "cluster-metadata" and configmap["metadata"]["namespace"] == "flux-system"
    data = configmap["data"]
    assert data["cluster_name"] == "dev-1" and data["environment"] == "dev" and data["fleet"] == "test"
    assert data["enable_metrics_server"] == "true" and data["enable_cert_manager"] == "false"
    assert data["addons_repo_url"] == ADDONS["url"] and data["addons_repo_basepath"] == "argocd/"
    assert data["dokaseca_io_team_a"] == "true" and data["aws_vpc_id"] == "vpc-0abc"
    assert all(re.match(r"^[_a-zA-Z][_a-zA-Z0-9]*$", key) for key in data)
    assert list(data) == sorted(data)

    source = flux_git_repository(cluster)
    assert source["metadata"]["name"] == "addons" and source["metadata"]["namespace"] == "flux-system"
    assert source["spec"] == {"interval": "1m", "timeout": "60s", "url": ADDONS["url"], "ref": {"branch": "main"}}

    kustomization = flux_kustomization(cluster)
    spec = kustomization["spec"]
    assert spec["sourceRef"] == {"kind": "GitRepository", "name": "addons"}
    assert spec["path"] == "./argocd/bootstrap"
    assert spec["prune"] is True and spec["wait"] is True and spec["timeout"] == "10m" and spec["interval"] == "10m"
    assert spec["postBuild"] == {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-metadata"}]}
    assert "dependsOn" not in spec

    workloads = flux_kustomization(cluster, "workloads")
    assert workloads["spec"]["path"] == "./apps" and workloads["spec"]["dependsOn"] == [{"name": "addons"}]
    assert flux_git_repository(cluster, "workloads")["spec"]["ref"] == {"tag": "v1.4.0"}

    objects = flux_bootstrap_objects(cluster, metadata)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "flux-system"),
        ("ConfigMap", "cluster-metadata"),
        ("GitRepository", "addons"),
        ("Kustomization", "addons"),
        ("GitRepository", "workloads"),
        ("Kustomization", "workloads"),
    ]
    assert_valid(objects)


def test_flux_kustomization_at_the_repository_root(host):
    cluster = standalone(host, engine="flux", addons={"url": ADDONS["url"], "revision": "v3.0.0", "path": ""}, workloads=None)
    assert flux_kustomization(cluster)["spec"]["path"] == "./"
    assert flux_git_repository(cluster)["spec"]["ref"] == {"tag": "v3.0.0"}
    kinds = [o["kind"] for o in flux_bootstrap_objects(cluster, cluster_metadata(host, cluster))]
    assert kinds == ["Namespace", "ConfigMap", "GitRepository", "Kustomization"]


def test_two_keys_becoming_one_variable_with_different_values_is_an_error(host):
    cluster = standalone(host, engine="flux")
    metadata = GitOpsMetadata(labels={"team.a": "x"}, annotations={"team_a": "y"})
    with pytest.raises(ValueError, match="substitution variable 'team_a'"):
        flux_cluster_metadata_configmap(cluster, metadata)
    same = GitOpsMetadata(labels={"cluster_name": "dev-1"}, annotations={"cluster_name": "dev-1"})
    assert flux_cluster_metadata_configmap(cluster, same)["data"] == {"cluster_name": "dev-1"}


# -- fully GitOps: the hub applies the CAPI objects --------------------------


def rendered_fleet(host, management=None):
    extra = [
        {"name": "dev-2", "environment": "dev", "provider": "fake", "region": "local"},
        {"name": "prod-eu-1", "environment": "prod", "provider": "fake", "region": "local"},
    ]
    clusters = load_clusters(host, {"engine": "argocd", "addons": ADDONS}, extra_clusters=extra, management=management)
    return [(r.cluster, r.objects) for r in render_clusters(host, clusters.values())]


def test_repository_layout_holds_every_cluster_and_the_bootstrap(host):
    rendered = rendered_fleet(host)
    files = gitops_repository_layout(rendered, repo_url="https://git.example/fleet", revision="main")
    assert list(files) == [
        "bootstrap/applicationset.yaml",
        "clusters/dev/dev-1/cluster.yaml",
        "clusters/dev/dev-2/cluster.yaml",
        "clusters/dev/namespace.yaml",
        "clusters/prod/namespace.yaml",
        "clusters/prod/prod-eu-1/cluster.yaml",
    ]
    dev_1_objects = {c.name: o for c, o in rendered}["dev-1"]
    assert list(yaml.safe_load_all(files["clusters/dev/dev-1/cluster.yaml"])) == list(dev_1_objects)
    assert [n["metadata"]["name"] for n in yaml.safe_load_all(files["clusters/prod/namespace.yaml"])] == ["prod"]

    project, appset = yaml.safe_load_all(files["bootstrap/applicationset.yaml"])
    assert project["kind"] == "AppProject" and project["metadata"]["name"] == "test-clusters"
    assert project["spec"]["sourceRepos"] == ["https://git.example/fleet"]
    assert appset["kind"] == "ApplicationSet" and appset["metadata"]["namespace"] == "argocd"
    spec = appset["spec"]
    (generator,) = spec["generators"]
    assert generator == {"git": {"repoURL": "https://git.example/fleet", "revision": "main", "directories": [{"path": "clusters/*/*"}]}}
    assert spec["goTemplate"] is True
    assert spec["syncPolicy"] == {"preserveResourcesOnDeletion": True}
    template = spec["template"]
    assert template["metadata"]["name"] == "test-{{ .path.basename }}"
    assert template["spec"]["project"] == "test-clusters"
    assert template["spec"]["source"] == {"repoURL": "https://git.example/fleet", "targetRevision": "main", "path": "{{ .path.path }}"}
    assert template["spec"]["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "{{ index .path.segments 1 }}"}
    assert template["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in template["spec"]["syncPolicy"]["syncOptions"]
    assert_valid([project, appset])
    assert files == gitops_repository_layout(rendered, repo_url="https://git.example/fleet", revision="main"), "deterministic"


def test_repository_layout_under_a_base_path_with_per_cluster_namespaces(host):
    rendered = rendered_fleet(host, management={"namespaces": "per-cluster", "namespacePrefix": "capi-"})
    files = gitops_repository_layout(rendered, repo_url="https://git.example/fleet", base_path="/gitops/fleet/")
    assert "gitops/fleet/clusters/dev/dev-2/cluster.yaml" in files
    namespaces = yaml.safe_load_all(files["gitops/fleet/clusters/dev/namespace.yaml"])
    assert [n["metadata"]["name"] for n in namespaces] == ["capi-dev-1", "capi-dev-2"]
    _, appset = yaml.safe_load_all(files["gitops/fleet/bootstrap/applicationset.yaml"])
    assert appset["spec"]["generators"][0]["git"]["directories"] == [{"path": "gitops/fleet/clusters/*/*"}]
    assert appset["spec"]["generators"][0]["git"]["revision"] == "HEAD"
    assert appset["spec"]["template"]["spec"]["destination"]["namespace"] == "capi-{{ .path.basename }}"
    assert appset["spec"]["template"]["metadata"]["labels"]["dokaseca.io/environment"] == "{{ index .path.segments 3 }}"
    assert_valid([appset])


def test_capi_objects_validate_on_their_own():
    appset = capi_applicationset("acme", "https://git.example/fleet", "v1.0.0", "", namespaces="per-environment", namespace_prefix="acme-")
    assert appset["spec"]["template"]["spec"]["destination"]["namespace"] == "acme-{{ index .path.segments 1 }}"
    assert "PruneLast=true" in appset["spec"]["template"]["spec"]["syncPolicy"]["syncOptions"]
    assert_valid([capi_project("acme", "https://git.example/fleet"), appset, namespace_object("argocd")])


def test_repository_layout_refuses_no_clusters_or_a_cluster_twice(host):
    rendered = rendered_fleet(host)
    with pytest.raises(ValueError, match="no clusters"):
        gitops_repository_layout([], repo_url="https://git.example/fleet")
    with pytest.raises(ValueError, match="given twice"):
        gitops_repository_layout([*rendered, rendered[0]], repo_url="https://git.example/fleet")
