"""Built-in GitOps engine: Flux, registered like any plugin (``bootstrap_gitops``).

Apply the pinned Flux release ``install.yaml`` (server-side, CRDs and
Namespaces first), then :func:`dokaseca.gitops_objects.flux_bootstrap_objects`
(the cluster-metadata ConfigMap, GitRepository and Kustomization), and watch
the root Kustomization until its ``Ready`` condition is True.

``dokaseca.kube`` (and so ``kubernetes``) is imported inside the hook only.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from dokaseca.hookspecs import hookimpl
from dokaseca.models import BootstrapResult, ClusterSpec, GitOpsMetadata

ENGINE = "flux"
DEFAULT_VERSION = "v2.7.0"
INSTALL_MANIFEST_URL = "https://github.com/fluxcd/flux2/releases/download/{version}/install.yaml"


@hookimpl
def bootstrap_gitops(
    cluster: ClusterSpec,
    engine: str,
    kubeconfig: str,
    metadata: GitOpsMetadata,
    timeout: float,
) -> Optional[BootstrapResult]:
    if engine != ENGINE:
        return None
    from dokaseca import gitops
    from dokaseca.gitops_objects import FLUX_KUSTOMIZE_API_VERSION, FLUX_NAMESPACE, FLUX_OBJECT_NAMES, flux_bootstrap_objects
    from dokaseca.kube import Kube, KubeError

    kube = Kube(kubeconfig)
    location = gitops.manifest_location(cluster.gitops, INSTALL_MANIFEST_URL, DEFAULT_VERSION)
    objects = gitops.manifest_objects(gitops.read_install_manifest(location), f"Flux install manifest {location}")
    gitops.install(kube, objects, FLUX_NAMESPACE, then=flux_bootstrap_objects(cluster, metadata))
    root = FLUX_OBJECT_NAMES["addons"]
    try:
        kube.wait_for(FLUX_KUSTOMIZE_API_VERSION, "Kustomization", root, FLUX_NAMESPACE, kustomization_ready, timeout=timeout, describe=describe_kustomization)
    except KubeError as exc:
        return BootstrapResult(engine=ENGINE, ready=False, message=str(exc))
    return BootstrapResult(engine=ENGINE, ready=True, message=f"Flux installed; Kustomization {FLUX_NAMESPACE}/{root} is Ready")


def _ready_condition(obj: Mapping[str, Any]) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition
    return {}


def kustomization_ready(obj: Mapping[str, Any]) -> bool:
    return _ready_condition(obj).get("status") == "True"


def describe_kustomization(obj: Optional[Mapping[str, Any]]) -> str:
    if obj is None:
        return "the Kustomization does not exist"
    condition = _ready_condition(obj)
    if not condition:
        return "condition Ready is missing (want True)"
    text = f"condition Ready is {condition.get('status')} (want True)"
    if condition.get("reason"):
        text += f" ({condition['reason']}: {condition.get('message', '')})"
    return text
