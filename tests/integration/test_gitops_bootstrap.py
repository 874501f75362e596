"""GitOps bootstrap (built-in Argo CD and Flux plugins) against the Kubernetes API emulator.

The emulators here start without any CRD: the engines' CRDs come from the
small local install manifests built below, as they would from a release
install.yaml. Controllers are simulated from the test (Argo CD syncing the
root Application, Flux reconciling the Kustomization, the token controller
filling the ServiceAccount token Secret), like CAPI status in test_apply.py.
"""

import base64
import http.server
import json
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from kube_emulator import kube_emulator_fixture

from dokaseca import gitops, hookimpl
from dokaseca.apply import ClusterOutcome, bootstrap
from dokaseca.builtin import argocd as argocd_plugin
from dokaseca.cli import cli
from dokaseca.config import load_fleet
from dokaseca.errors import DokasecaError
from dokaseca.models import GitOpsMetadata, InfraResult
from dokaseca.plugins import load_plugins
from dokaseca.testing import shared_dir

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet.yaml"
ARGO = "argoproj.io/v1alpha1"
KUSTOMIZE = "kustomize.toolkit.fluxcd.io/v1"
HUB_SPOKE = {"topology": "hub-spoke", "hub": "prod-eu-1"}
TOKEN = "spoke-sa-token-value-3f9c2a7e"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nspoke-ca\n-----END CERTIFICATE-----\n").decode()

cluster_emulator = kube_emulator_fixture(crd_dirs=(), name="cluster_emulator")
spoke_emulator = kube_emulator_fixture(crd_dirs=(), name="spoke_emulator")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def host():
    return load_plugins()


def install_manifest(path: Path, namespace: str, crd_folder: str, crd_files: list[str]) -> Path:
    """A small install.yaml: the namespace, the engine's CRDs and one namespace-less Deployment."""
    crds = [yaml.safe_load((shared_dir(ROOT) / "crds" / crd_folder / name).read_text()) for name in crd_files]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{namespace}-controller"},  # no namespace: `kubectl apply -n` style
        "spec": {
            "selector": {"matchLabels": {"app": "controller"}},
            "template": {"metadata": {"labels": {"app": "controller"}}, "spec": {"containers": [{"name": "c", "image": "example/controller:v1"}]}},
        },
    }
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, *crds, deployment]
    path.write_text(yaml.safe_dump_all(objects[::-1]))  # reversed: the installer must order them
    return path


def fleet_file(tmp_path: Path, gitops_section: dict) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["gitops"] = gitops_section
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def argocd_fleet(host, tmp_path, **extra):
    manifest = install_manifest(tmp_path / "argocd-install.yaml", "argocd", "argocd", ["application-crd.yaml", "appproject-crd.yaml"])
    section = {
        "engine": "argocd",
        "installManifest": str(manifest),
        "addons": {"url": "https://github.com/acme/platform-addons", "revision": "main", "basePath": "argocd/"},
        **extra,
    }
    return load_fleet(fleet_file(tmp_path, section), host)


def argocd_cluster(host, tmp_path, name="dev-eu-1", **extra):
    """Cluster ``name`` of an :func:`argocd_fleet`."""
    (cluster,) = argocd_fleet(host, tmp_path, **extra).select(clusters=(name,))
    return cluster


def flux_cluster(host, tmp_path):
    """prod-eu-1 of the example fleet, bootstrapped with Flux from a local install manifest."""
    manifest = install_manifest(
        tmp_path / "flux-install.yaml",
        "flux-system",
        "flux",
        ["source.toolkit.fluxcd.io_gitrepositories.yaml", "kustomize.toolkit.fluxcd.io_kustomizations.yaml"],
    )
    section = {"engine": "flux", "installManifest": str(manifest), "addons": {"url": "https://github.com/acme/platform-addons", "revision": "main"}}
    (cluster,) = load_fleet(fleet_file(tmp_path, section), host).select(clusters=("prod-eu-1",))
    return cluster


def argocd_syncs(emulator, sync="Synced", health="Healthy"):
    """Argo CD syncing the root Application, once it exists."""
    status = {"sync": {"status": sync}, "health": {"status": health}}
    return emulator.when_exists(ARGO, "Application", "addons", "argocd", lambda: emulator.set_status(ARGO, "Application", "addons", "argocd", status))


def flux_reconciles(emulator, ready, reason, message):
    """Flux reconciling the Kustomization, once it exists: its Ready condition."""
    condition = {"type": "Ready", "status": ready, "reason": reason, "message": message, "lastTransitionTime": "2026-11-25T00:00:00Z"}
    status = {"conditions": [condition]}
    return emulator.when_exists(KUSTOMIZE, "Kustomization", "addons", "flux-system", lambda: emulator.set_status(KUSTOMIZE, "Kustomization", "addons", "flux-system", status))


def versions(emulator):
    return {
        (o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for o in emulator.objects.list()
    }


# -- install manifest ---------------------------------------------------------


def test_a_url_manifest_is_downloaded_once_then_served_from_the_cache(tmp_path):
    body = install_manifest(tmp_path / "install.yaml", "argocd", "argocd", ["appproject-crd.yaml"]).read_bytes()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v3.2.1/manifests/install.yaml"
        first = gitops.read_install_manifest(url)
        second = gitops.read_install_manifest(url)
    finally:
        server.shutdown()
        server.server_close()
    assert first == second == body.decode()
    assert hits == ["/v3.2.1/manifests/install.yaml"], "downloaded once, then from the cache"
    cached = list((tmp_path / "cache" / "dokaseca" / "manifests").iterdir())
    assert len(cached) == 1 and cached[0].read_bytes() == body
    kinds = [o["kind"] for o in gitops.manifest_objects(first)]
    assert sorted(kinds) == ["CustomResourceDefinition", "Deployment", "Namespace"]


def test_manifest_location_pins_a_version_or_takes_the_users():
    from dokaseca.models import GitOpsSpec

    assert gitops.manifest_location(None, argocd_plugin.INSTALL_MANIFEST_URL, argocd_plugin.DEFAULT_VERSION).endswith(
        f"/argo-cd/{argocd_plugin.DEFAULT_VERSION}/manifests/install.yaml"
    )
    assert "/v3.0.6/" in gitops.manifest_location(GitOpsSpec(version="v3.0.6"), argocd_plugin.INSTALL_MANIFEST_URL, "v9")
    assert gitops.manifest_location(GitOpsSpec(version="v1", install_manifest="./mine.yaml"), argocd_plugin.INSTALL_MANIFEST_URL, "v9") == "./mine.yaml"


def test_a_missing_local_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(DokasecaError, match="cannot read install manifest"):
        gitops.read_install_manifest(str(tmp_path / "nope.yaml"))


# -- Argo CD standalone -------------------------------------------------------


def test_argocd_standalone_installs_registers_and_waits_for_the_root_application(host, tmp_path, cluster_emulator):
    cluster = argocd_cluster(host, tmp_path)
    argocd_syncs(cluster_emulator)
    result = bootstrap(host, cluster, str(cluster_emulator.kubeconfig_path), timeout=8)
    assert (result.engine, result.ready) == ("argocd", True), result.message
    assert "Synced and Healthy" in result.message

    objects = cluster_emulator.objects
    assert objects.get("v1", "Namespace", "argocd") is not None
    assert objects.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "applications.argoproj.io") is not None
    assert objects.get("apps/v1", "Deployment", "argocd-controller", "argocd") is not None, "namespace-less objects go to argocd"
    secret = objects.get("v1", "Secret", "dev-eu-1", "argocd")
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    assert secret["metadata"]["labels"]["environment"] == "dev"
    assert secret["metadata"]["annotations"]["addons_repo_url"] == "https://github.com/acme/platform-addons"
    assert base64.b64decode(secret["data"]["server"]).decode() == "https://kubernetes.default.svc"
    assert objects.get(ARGO, "AppProject", "acme", "argocd") is not None
    app = objects.get(ARGO, "Application", "addons", "argocd")
    assert app["spec"]["source"]["path"] == "argocd/bootstrap"

    before = versions(cluster_emulator)
    again = bootstrap(host, cluster, str(cluster_emulator.kubeconfig_path), timeout=3)
    assert again.ready is True
    assert versions(cluster_emulator) == before, "a second bootstrap changes nothing"


def test_argocd_wait_times_out_naming_sync_and_health(host, tmp_path, cluster_emulator):
    cluster = argocd_cluster(host, tmp_path)
    argocd_syncs(cluster_emulator, sync="OutOfSync", health="Progressing")
    started = time.monotonic()
    result = bootstrap(host, cluster, str(cluster_emulator.kubeconfig_path), timeout=2)
    assert result.ready is False
    assert time.monotonic() - started < 8
    assert "timed out" in result.message and "Application argocd/addons" in result.message
    assert "sync status is OutOfSync (want Synced)" in result.message
    assert "health status is Progressing (want Healthy)" in result.message


def test_no_plugin_for_the_engine_is_a_clear_error(tmp_path, cluster_emulator):
    host = load_plugins(autoload=False, defaults=("dokaseca.builtin.standard_labels", "dokaseca.builtin.gitops_metadata"), extra=[])
    full = load_plugins()
    cluster = argocd_cluster(full, tmp_path)
    host.providers.update(full.providers)  # the aws provider, without the engine plugins
    with pytest.raises(DokasecaError, match="no plugin bootstraps GitOps engine 'argocd'"):
        bootstrap(host, cluster, str(cluster_emulator.kubeconfig_path), timeout=1)


# -- Flux ---------------------------------------------------------------------


def test_flux_installs_and_waits_for_the_kustomization_ready(host, tmp_path, cluster_emulator):
    cluster = flux_cluster(host, tmp_path)
    flux_reconciles(cluster_emulator, "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")
    result = bootstrap(host, cluster, str(cluster_emulator.kubeconfig_path), timeout=8)
    assert (result.engine, result.ready) == ("flux", True), result.message

    objects = cluster_emulator.objects
    assert objects.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "kustomizations.kustomize.toolkit.fluxcd.io") is not None
    repo = objects.get("source.toolkit.fluxcd.io/v1", "GitRepository", "addons", "flux-system")
    assert repo["spec"]["url"] == "https://github.com/acme/platform-addons" and repo["spec"]["ref"] == {"branch": "main"}
    kustomization = objects.get(KUSTOMIZE, "Kustomization", "addons", "flux-system")
    assert kustomization["spec"]["postBuild"]["substituteFrom"] == [{"kind": "ConfigMap", "name": "cluster-metadata"}]
    configmap = objects.get("v1", "ConfigMap", "cluster-metadata", "flux-system")
    assert configmap["data"]["cluster_name"] == "prod-eu-1"
    assert objects.get("apps/v1", "Deployment", "flux-system-controller", "flux-system") is not None


def test_flux_wait_times_out_naming_the_ready_condition(host, tmp_path, cluster_emulator):
    cluster = flux_cluster(host, tmp_path)
    flux_reconciles(cluster_emulator, "False", "ArtifactFailed", "source not found")
    result = bootstrap(host, cluster, str(cluster_emulator.kubeconfig_path), timeout=2)
    assert result.ready is False
    assert "condition Ready is False (want True) (ArtifactFailed: source not found)" in result.message


# -- hub and spoke ------------------------------------------------------------


def test_hub_and_spoke(host, tmp_path, cluster_emulator, spoke_emulator):
    fleet = argocd_fleet(host, tmp_path, **HUB_SPOKE)
    hub = fleet.select(clusters=("prod-eu-1",))[0]
    spoke = fleet.select(clusters=("dev-eu-1",))[0]
    hub_kubeconfig = str(cluster_emulator.kubeconfig_path)

    argocd_syncs(cluster_emulator)
    assert bootstrap(host, hub, hub_kubeconfig, timeout=8).ready is True

    def token_controller():
        from kubernetes import client

        client.CoreV1Api(spoke_emulator.api_client()).patch_namespaced_secret(
            "argocd-manager-long-lived-token",
            "kube-system",
            {"data": {"token": base64.b64encode(TOKEN.encode()).decode(), "ca.crt": CA}},
            field_manager="token-controller",
        )

    spoke_emulator.when_exists("v1", "Secret", "argocd-manager-long-lived-token", "kube-system", token_controller)
    result = bootstrap(host, spoke, str(spoke_emulator.kubeconfig_path), hub_kubeconfig, timeout=8)
    assert result.ready is True, result.message
    assert spoke_emulator.url in result.message

    # On the spoke: what `argocd cluster add` creates, and no Argo CD.
    on_spoke = spoke_emulator.objects
    assert on_spoke.get("v1", "ServiceAccount", "argocd-manager", "kube-system") is not None
    role = on_spoke.get("rbac.authorization.k8s.io/v1", "ClusterRole", "argocd-manager-role")
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]} in role["rules"]
    binding = on_spoke.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "argocd-manager-role-binding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}]
    token_secret = on_spoke.get("v1", "Secret", "argocd-manager-long-lived-token", "kube-system")
    assert token_secret["type"] == "kubernetes.io/service-account-token"
    assert token_secret["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "argocd-manager"
    assert on_spoke.get("v1", "Namespace", "argocd") is None
    assert not on_spoke.list(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")

    # On the hub: the spoke's cluster Secret, token only inside its config.
    registered = cluster_emulator.objects.get("v1", "Secret", "dev-eu-1", "argocd")
    data = {key: base64.b64decode(value).decode() for key, value in registered["data"].items()}
    assert data["server"] == spoke_emulator.url and data["name"] == "dev-eu-1"
    assert json.loads(data["config"]) == {"bearerToken": TOKEN, "tlsClientConfig": {"caData": CA}}
    assert registered["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    assert registered["metadata"]["labels"]["environment"] == "dev"
    for secret in cluster_emulator.objects.list(api_version="v1", kind="Secret"):
        metadata = json.dumps({k: v for k, v in secret["metadata"].items() if k != "managedFields"})
        assert TOKEN not in metadata, "the token is in a label or annotation"
    encoded_token = base64.b64encode(TOKEN.encode()).decode()
    assert TOKEN not in result.message and encoded_token not in result.message
    for request in cluster_emulator.requests.filter():
        assert TOKEN not in request.path

    hub_before, spoke_before = versions(cluster_emulator), versions(spoke_emulator)
    assert bootstrap(host, spoke, str(spoke_emulator.kubeconfig_path), hub_kubeconfig, timeout=3).ready is True
    assert bootstrap(host, hub, hub_kubeconfig, timeout=3).ready is True
    assert versions(cluster_emulator) == hub_before and versions(spoke_emulator) == spoke_before, "a second bootstrap changes nothing"


def test_spoke_bound_to_a_cluster_role_of_the_platform_teams_choice():
    from dokaseca.builtin.argocd import manager_objects

    default = {o["kind"]: o for o in manager_objects()}
    assert default["ClusterRole"]["rules"][0] == {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    chosen = {o["kind"]: o for o in manager_objects("argocd-addons-installer")}
    assert "ClusterRole" not in chosen
    assert chosen["ClusterRoleBinding"]["roleRef"]["name"] == "argocd-addons-installer"
    assert chosen["ClusterRoleBinding"]["subjects"] == default["ClusterRoleBinding"]["subjects"]


def test_spoke_cluster_role_from_the_fleet_file_is_bound_on_the_spoke(host, tmp_path, cluster_emulator, spoke_emulator):
    spoke = argocd_cluster(host, tmp_path, **HUB_SPOKE, spokeClusterRole="argocd-addons-installer")
    bootstrap(host, spoke, str(spoke_emulator.kubeconfig_path), str(cluster_emulator.kubeconfig_path), timeout=0.5)
    binding = spoke_emulator.objects.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "argocd-manager-role-binding")
    assert binding["roleRef"]["name"] == "argocd-addons-installer"
    assert spoke_emulator.objects.get("rbac.authorization.k8s.io/v1", "ClusterRole", "argocd-manager-role") is None


def test_a_spoke_without_the_hubs_kubeconfig_is_a_clear_error(host, tmp_path, spoke_emulator):
    spoke = argocd_cluster(host, tmp_path, **HUB_SPOKE)
    with pytest.raises(DokasecaError, match="needs the hub's kubeconfig"):
        bootstrap(host, spoke, str(spoke_emulator.kubeconfig_path), timeout=1)


def test_a_spoke_whose_token_never_comes_times_out(host, tmp_path, cluster_emulator, spoke_emulator):
    spoke = argocd_cluster(host, tmp_path, **HUB_SPOKE)
    result = bootstrap(host, spoke, str(spoke_emulator.kubeconfig_path), str(cluster_emulator.kubeconfig_path), timeout=1.5)
    assert result.ready is False
    assert "data.token and data.ca.crt" in result.message


# -- apply and CLI ------------------------------------------------------------


def test_outcome_carries_the_gitops_message():
    assert ClusterOutcome(name="a", namespace="b").to_json()["gitops"] is None


class PreparedVpc:
    """A provider's prepare step and the GitOps metadata it derives from what it made."""

    @hookimpl
    def prepare_infrastructure(self, cluster, provider, dry_run):
        return InfraResult(outputs={"vpc_id": "vpc-0abc"}) if provider.name == "aws" else None

    @hookimpl
    def gitops_metadata(self, cluster, provider, infra):
        return GitOpsMetadata(annotations={"aws_vpc_id": infra.outputs.get("vpc_id", "")})


def test_apply_fleet_bootstraps_gitops_once_the_cluster_is_ready(tmp_path, kube_emulator, cluster_emulator):
    from dokaseca.apply import apply_fleet
    from dokaseca.kube import Kube

    host = load_plugins(extra=[("prepared-vpc", PreparedVpc())])

    cluster = argocd_cluster(host, tmp_path)
    kube_emulator.objects.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.namespace}})
    kube_emulator.objects.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "dev-eu-1-kubeconfig", "namespace": cluster.namespace},
            "data": {"value": base64.b64encode(cluster_emulator.kubeconfig_path.read_bytes()).decode()},
        }
    )
    capi = "cluster.x-k8s.io/v1beta2"
    ready = {"conditions": [{"type": t, "status": "True", "reason": "Ready", "lastTransitionTime": "2026-11-25T00:00:00Z"} for t in ("InfrastructureReady", "ControlPlaneAvailable")]}
    kube_emulator.when_exists(capi, "Cluster", "dev-eu-1", cluster.namespace, lambda: kube_emulator.set_status(capi, "Cluster", "dev-eu-1", cluster.namespace, ready))
    argocd_syncs(cluster_emulator)
    seen = []
    (outcome,) = apply_fleet(
        host, [cluster], Kube(str(kube_emulator.kubeconfig_path)), timeout=8, state_dir=tmp_path / "state", progress=lambda name, what: seen.append(what)
    )
    assert outcome.error == "" and outcome.ready is True
    assert outcome.gitops_ready is True and "Synced and Healthy" in outcome.gitops
    assert "bootstrapping argocd" in seen
    secret = cluster_emulator.objects.get("v1", "Secret", "dev-eu-1", "argocd")
    assert secret["metadata"]["annotations"]["aws_vpc_id"] == "vpc-0abc", "prepare's outputs reach the GitOps Bridge Secret"


def test_cli_bootstrap_json(tmp_path, cluster_emulator, monkeypatch):
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    host = load_plugins()
    argocd_fleet(host, tmp_path)  # writes fleet.yaml and the install manifest
    args = ["bootstrap", str(tmp_path / "fleet.yaml"), "dev-eu-1", "--workload-kubeconfig", str(cluster_emulator.kubeconfig_path), "--output", "json"]
    argocd_syncs(cluster_emulator)
    result = CliRunner().invoke(cli, [*args, "--timeout", "8"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{") :])
    assert payload["ready"] is True and payload["engine"] == "argocd" and payload["cluster"] == "dev-eu-1"
    assert cluster_emulator.token not in result.output

    cluster_emulator.set_status(ARGO, "Application", "addons", "argocd", {"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded"}})
    failed = CliRunner().invoke(cli, [*args, "--timeout", "1"], catch_exceptions=False)
    assert failed.exit_code == 1
    assert json.loads(failed.output[failed.output.index("{") :])["ready"] is False
