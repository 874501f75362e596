"""Built-in GitOps engine: Argo CD, registered like any plugin (``bootstrap_gitops``).

Standalone cluster or hub: apply the pinned Argo CD install manifest
(server-side, CRDs and Namespaces first), then the GitOps Bridge objects of
:func:`dokaseca.gitops_objects.argocd_bootstrap_objects`, and watch the root
Application until it is Synced and Healthy.

Spoke of a hub: no Argo CD. On the spoke, the ``argocd-manager``
ServiceAccount, ClusterRole and ClusterRoleBinding that ``argocd cluster add``
creates, and a long-lived ``kubernetes.io/service-account-token`` Secret;
once the token controller has filled it, the spoke is registered on the hub
as a cluster Secret whose ``config`` carries the token. The token is never
logged, returned or put anywhere but that ``config``.

``dokaseca.kube`` (and so ``kubernetes``) is imported inside the hook only:
``render`` and ``--help`` never load it.
"""

from __future__ import annotations

import base64
from typing import Any, Mapping, Optional

from dokaseca.hookspecs import hookimpl
from dokaseca.models import BootstrapResult, ClusterSpec, GitOpsMetadata

ENGINE = "argocd"
DEFAULT_VERSION = "v3.2.1"
INSTALL_MANIFEST_URL = "https://raw.githubusercontent.com/argoproj/argo-cd/{version}/manifests/install.yaml"

# What `argocd cluster add` creates on the target cluster.
MANAGER_NAMESPACE = "kube-system"
MANAGER_SERVICE_ACCOUNT = "argocd-manager"
MANAGER_CLUSTER_ROLE = "argocd-manager-role"
MANAGER_CLUSTER_ROLE_BINDING = "argocd-manager-role-binding"
MANAGER_TOKEN_SECRET = "argocd-manager-long-lived-token"


@hookimpl
def bootstrap_gitops(
    cluster: ClusterSpec,
    engine: str,
    kubeconfig: str,
    metadata: GitOpsMetadata,
    hub_kubeconfig: Optional[str],
    timeout: float,
) -> Optional[BootstrapResult]:
    if engine != ENGINE:
        return None
    from dokaseca.gitops_objects import is_spoke
    from dokaseca.kube import Kube

    kube = Kube(kubeconfig)
    if is_spoke(cluster):
        return _bootstrap_spoke(cluster, metadata, kube, hub_kubeconfig, timeout)
    return _bootstrap_argocd(cluster, metadata, kube, timeout)


def _bootstrap_argocd(cluster: ClusterSpec, metadata: GitOpsMetadata, kube: Any, timeout: float) -> BootstrapResult:
    from dokaseca import gitops
    from dokaseca.gitops_objects import ARGOCD_API_VERSION, ARGOCD_NAMESPACE, ROOT_APPLICATION_NAMES, argocd_bootstrap_objects
    from dokaseca.kube import KubeError

    location = gitops.manifest_location(cluster.gitops, INSTALL_MANIFEST_URL, DEFAULT_VERSION)
    objects = gitops.manifest_objects(gitops.read_install_manifest(location), f"Argo CD install manifest {location}")
    gitops.install(kube, objects, ARGOCD_NAMESPACE, then=argocd_bootstrap_objects(cluster, metadata))
    root = ROOT_APPLICATION_NAMES["addons"]
    try:
        kube.wait_for(
            ARGOCD_API_VERSION, "Application", root, ARGOCD_NAMESPACE, application_synced, timeout=timeout, describe=describe_application
        )
    except KubeError as exc:
        return BootstrapResult(engine=ENGINE, ready=False, message=str(exc))
    return BootstrapResult(engine=ENGINE, ready=True, message=f"Argo CD installed; Application {ARGOCD_NAMESPACE}/{root} is Synced and Healthy")


def application_synced(app: Mapping[str, Any]) -> bool:
    status = app.get("status") or {}
    return (status.get("sync") or {}).get("status") == "Synced" and (status.get("health") or {}).get("status") == "Healthy"


def describe_application(app: Optional[Mapping[str, Any]]) -> str:
    if app is None:
        return "the Application does not exist"
    status = app.get("status") or {}
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    health = status.get("health") or {}
    text = f"sync status is {sync} (want Synced), health status is {health.get('status') or 'Unknown'} (want Healthy)"
    if health.get("message"):
        text += f": {health['message']}"
    operation = status.get("operationState") or {}
    if operation.get("phase") in ("Failed", "Error") and operation.get("message"):
        text += f"; last sync {operation['phase']}: {operation['message']}"
    return text


# -------------------------------------------------------------------------
# Spoke
# -------------------------------------------------------------------------


def manager_objects(cluster_role: Optional[str] = None) -> list[dict[str, Any]]:
    """The ServiceAccount, ClusterRole, ClusterRoleBinding and token Secret of ``argocd cluster add``.

    With ``cluster_role`` (``gitops.spokeClusterRole``) the account is bound to
    that existing ClusterRole and no all-resources role is created: the
    platform team decides how little the hub may do on its spokes.
    """
    from dokaseca.manifests import MANAGED_BY_LABEL, k8s_object

    labels = {MANAGED_BY_LABEL: "dokaseca"}
    role = cluster_role or MANAGER_CLUSTER_ROLE
    objects = [
        k8s_object("v1", "ServiceAccount", MANAGER_SERVICE_ACCOUNT, MANAGER_NAMESPACE, labels=labels),
        k8s_object(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            MANAGER_CLUSTER_ROLE,
            labels=labels,
            rules=[
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        ),
        k8s_object(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            MANAGER_CLUSTER_ROLE_BINDING,
            labels=labels,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            subjects=[{"kind": "ServiceAccount", "name": MANAGER_SERVICE_ACCOUNT, "namespace": MANAGER_NAMESPACE}],
        ),
        k8s_object(
            "v1",
            "Secret",
            MANAGER_TOKEN_SECRET,
            MANAGER_NAMESPACE,
            labels=labels,
            annotations={"kubernetes.io/service-account.name": MANAGER_SERVICE_ACCOUNT},
            type="kubernetes.io/service-account-token",
        ),
    ]
    if cluster_role:
        objects = [o for o in objects if o["kind"] != "ClusterRole"]
    return objects


def _token_filled(secret: Mapping[str, Any]) -> bool:
    data = secret.get("data") or {}
    return bool(data.get("token")) and bool(data.get("ca.crt"))


def _describe_token(secret: Optional[Mapping[str, Any]]) -> str:
    if secret is None:
        return "the token Secret does not exist"
    data = secret.get("data") or {}
    missing = [key for key in ("token", "ca.crt") if not data.get(key)]
    return f"the token controller has not filled data.{' and data.'.join(missing)} yet"


def _bootstrap_spoke(
    cluster: ClusterSpec, metadata: GitOpsMetadata, kube: Any, hub_kubeconfig: Optional[str], timeout: float
) -> BootstrapResult:
    from dokaseca.errors import DokasecaError
    from dokaseca.gitops_objects import argocd_cluster_secret, bearer_token_config
    from dokaseca.kube import Kube, KubeError

    hub = cluster.gitops.hub if cluster.gitops else None
    if not hub_kubeconfig:
        raise DokasecaError(
            f"cluster {cluster.name!r} is a spoke of hub {hub!r}: registering it needs the hub's kubeconfig"
            " (bootstrap the hub first, or pass --hub-kubeconfig)"
        )
    kube.apply(manager_objects(cluster.gitops.spoke_cluster_role if cluster.gitops else None))
    try:
        secret = kube.wait_for(
            "v1", "Secret", MANAGER_TOKEN_SECRET, MANAGER_NAMESPACE, _token_filled, timeout=timeout, describe=_describe_token
        )
    except KubeError as exc:
        return BootstrapResult(engine=ENGINE, ready=False, message=str(exc))
    token = base64.b64decode(secret["data"]["token"]).decode()
    ca_data = secret["data"]["ca.crt"]  # already the base64 of the PEM, what caData wants
    server = kube.server
    Kube(hub_kubeconfig).apply(
        [argocd_cluster_secret(cluster, metadata, server=server, config=bearer_token_config(token, ca_data))]
    )
    return BootstrapResult(
        engine=ENGINE, ready=True, message=f"spoke registered on hub {hub!r} as {server} with ServiceAccount {MANAGER_NAMESPACE}/{MANAGER_SERVICE_ACCOUNT}"
    )
