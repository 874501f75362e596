"""The GitOps Bridge labels and annotations every cluster gets, whatever its provider.

Labels are switches that ApplicationSets select on (``environment``,
``enable_<addon>``); annotations carry values for templating (repository URLs
and paths). See the GitOps Bridge cluster-Secret contract.
"""

from __future__ import annotations

from typing import Any

from dokaseca.hookspecs import hookimpl
from dokaseca.models import ClusterSpec, GitOpsMetadata, InfraResult, ProviderInfo


@hookimpl
def gitops_metadata(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> GitOpsMetadata:
    major_minor = ".".join(cluster.kubernetes_version.lstrip("v").split(".")[:2])
    labels = {
        "cluster_name": cluster.name,
        "environment": cluster.environment,
        "fleet": cluster.fleet,
        "cloud": provider.name,
        "kubernetes_version": major_minor,
    }
    if cluster.region:
        labels["region"] = cluster.region
    for addon, enabled in sorted(cluster.addons.items()):
        labels[f"enable_{addon}"] = "true" if enabled else "false"
    annotations: dict[str, Any] = {"cluster_name": cluster.name, "environment": cluster.environment}
    gitops = cluster.gitops
    if gitops is not None:
        for prefix, repo in (("addons_repo", gitops.addons), ("workload_repo", gitops.workloads)):
            if repo is not None:
                annotations[f"{prefix}_url"] = repo.url
                annotations[f"{prefix}_revision"] = repo.revision
                annotations[f"{prefix}_basepath"] = repo.base_path
                annotations[f"{prefix}_path"] = repo.path
    return GitOpsMetadata(labels=labels, annotations=annotations)
