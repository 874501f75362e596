"""Stamp every rendered object with labels that say who manages it and where it belongs."""

from __future__ import annotations

from typing import Any

from dokaseca.hookspecs import hookimpl
from dokaseca.manifests import CLUSTER_NAME_LABEL, MANAGED_BY_LABEL
from dokaseca.models import ClusterSpec

FLEET_LABEL = "dokaseca.io/fleet"
ENVIRONMENT_LABEL = "dokaseca.io/environment"


@hookimpl
def modify_manifests(cluster: ClusterSpec, manifests: list[dict[str, Any]]) -> None:
    stamp = {
        MANAGED_BY_LABEL: "dokaseca",
        FLEET_LABEL: cluster.fleet,
        ENVIRONMENT_LABEL: cluster.environment,
        CLUSTER_NAME_LABEL: cluster.name,
    }
    shared = {key: stamp[key] for key in (MANAGED_BY_LABEL, FLEET_LABEL)}
    for obj in manifests:
        metadata = obj.setdefault("metadata", {})
        # Cluster-scoped objects (identities) are shared by the clusters that
        # reference them: a per-cluster label would flip with every apply.
        labels = stamp if metadata.get("namespace") else shared
        # Labels a provider or the user set explicitly win over the stamp.
        metadata["labels"] = {**labels, **metadata.get("labels", {})}
