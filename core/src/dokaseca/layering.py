"""Merge the blueprint layers of one cluster and remember where each value came from.

Order, lowest first: built-in defaults, the built-in environment (dev, stg,
prod), ``defaults:``, ``environments.<env>:``, the cluster entry. Scalars are
replaced, maps (addons, labels) merged key by key, worker pools merged by
name; setting ``replicas`` on a pool clears an inherited ``minReplicas`` /
``maxReplicas`` and the other way round, so a layer can switch a pool between
fixed size and autoscaling.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import attrs

from dokaseca.errors import Problem
from dokaseca.models import (
    Blueprint,
    ClusterEntry,
    ClusterNetwork,
    ClusterSpec,
    ControlPlane,
    ControlPlaneLayer,
    FleetFile,
    GitOpsSpec,
    NetworkLayer,
    WorkerPool,
)
from dokaseca.validators import cidrs_overlap, is_cidr

BUILTIN = "built-in"

BUILTIN_DEFAULTS = Blueprint(
    control_plane=ControlPlaneLayer(replicas=1),
    network=NetworkLayer(pods=("192.168.0.0/16",), services=("10.96.0.0/12",), service_domain="cluster.local"),
    health_checks=True,
)

# dev, stg and prod exist in every fleet; a fleet file may change them or add more.
BUILTIN_ENVIRONMENTS: dict[str, Blueprint] = {
    "dev": Blueprint(control_plane=ControlPlaneLayer(replicas=1)),
    "stg": Blueprint(control_plane=ControlPlaneLayer(replicas=3)),
    "prod": Blueprint(control_plane=ControlPlaneLayer(replicas=3)),
}


@attrs.frozen(kw_only=True)
class Setting:
    """One effective value and the layer that set it (for ``dokaseca explain``)."""

    path: str
    value: Any
    source: str


@attrs.frozen(kw_only=True)
class Merged:
    values: dict[str, Any]
    sources: dict[str, str]
    pool_order: tuple[str, ...]

    @property
    def settings(self) -> tuple[Setting, ...]:
        return tuple(Setting(path=p, value=self.values[p], source=self.sources[p]) for p in self.values)


def layers_for(fleet_file: FleetFile, index: int, entry: ClusterEntry) -> list[tuple[str, Optional[Blueprint]]]:
    env = entry.environment
    return [
        (BUILTIN, BUILTIN_DEFAULTS),
        (f"{BUILTIN} ({env})", BUILTIN_ENVIRONMENTS.get(env)),
        ("defaults", fleet_file.defaults),
        (f"environments.{env}", fleet_file.environments.get(env)),
        (f"clusters[{index}]", entry),
    ]


def block_layers(entry: ClusterEntry, index: int) -> list[tuple[str, str]]:
    """(source name, layer path) of the places a provider block can be written."""
    env = f"environments.{entry.environment}"
    return [("defaults", "defaults"), (env, env), (f"clusters[{index}]", f"clusters[{index}]")]


def merge(layers: Iterable[tuple[str, Optional[Blueprint]]]) -> Merged:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    pools: list[str] = []

    def put(path: str, value: Any, source: str) -> None:
        if value is not None:
            values[path] = value
            sources[path] = source

    def drop(path: str) -> None:
        values.pop(path, None)
        sources.pop(path, None)

    for source, layer in layers:
        if layer is None:
            continue
        put("kubernetesVersion", layer.kubernetes_version, source)
        if layer.control_plane is not None:
            put("controlPlane.replicas", layer.control_plane.replicas, source)
            put("controlPlane.machineSize", layer.control_plane.machine_size, source)
        if layer.network is not None:
            put("network.pods", layer.network.pods, source)
            put("network.services", layer.network.services, source)
            put("network.serviceDomain", layer.network.service_domain, source)
        put("healthChecks", layer.health_checks, source)
        for name, enabled in sorted((layer.addons or {}).items()):
            put(f"addons.{name}", enabled, source)
        for pool in layer.workers or ():
            base = f"workers.{pool.name}"
            if pool.name not in pools:
                pools.append(pool.name)
            if pool.replicas is not None:
                drop(f"{base}.minReplicas")
                drop(f"{base}.maxReplicas")
            if pool.min_replicas is not None or pool.max_replicas is not None:
                drop(f"{base}.replicas")
            put(f"{base}.replicas", pool.replicas, source)
            put(f"{base}.minReplicas", pool.min_replicas, source)
            put(f"{base}.maxReplicas", pool.max_replicas, source)
            put(f"{base}.machineSize", pool.machine_size, source)
            put(f"{base}.failureDomain", pool.failure_domain, source)
            for key, value in sorted((pool.labels or {}).items()):
                put(f"{base}.labels.{key}", value, source)
            put(f"{base}.taints", pool.taints, source)
    for name in pools:
        base = f"workers.{name}"
        if not any(f"{base}.{k}" in values for k in ("replicas", "minReplicas", "maxReplicas")):
            put(f"{base}.replicas", 1, BUILTIN)
    return Merged(values=values, sources=sources, pool_order=tuple(pools))


def merge_provider_blocks(layers: Iterable[tuple[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Deep-merge the raw provider blocks; return the block and leaf -> source."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def deep(into: dict[str, Any], block: dict[str, Any], prefix: str, source: str) -> None:
        for key, value in block.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                deep(into[key], value, f"{path}.", source)
            else:
                into[key] = _copy(value)
                for leaf in list(sources):
                    if leaf == path or leaf.startswith(f"{path}."):
                        del sources[leaf]
                for leaf in flatten({key: value}, prefix):
                    sources[leaf] = source

    for source, block in layers:
        if isinstance(block, dict):
            deep(merged, block, "", source)
    return merged, sources


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; an empty mapping below the top stays a leaf."""
    if not prefix and not data:
        return {}
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def check_effective(merged: Merged, path: str, entry: ClusterEntry) -> list[Problem]:
    """Rules that only make sense once the layers are merged."""
    values, sources = merged.values, merged.sources
    problems: list[Problem] = []
    if "kubernetesVersion" not in values:
        problems.append(
            Problem(
                path=f"{path}.kubernetesVersion",
                message="is not set in any layer",
                hint=f"set kubernetesVersion under defaults:, environments.{entry.environment}: or the cluster",
            )
        )
    replicas = values.get("controlPlane.replicas")
    if not entry.flavor or entry.flavor == "kubeadm":
        if replicas is not None and replicas % 2 == 0:
            problems.append(
                Problem(
                    path=f"{path}.controlPlane.replicas",
                    message="must be odd: stacked etcd needs a majority to keep quorum",
                    value=replicas,
                    hint=f"use {replicas - 1} or {replicas + 1} (set in {sources['controlPlane.replicas']})",
                )
            )
    for name in merged.pool_order:
        low, high = values.get(f"workers.{name}.minReplicas"), values.get(f"workers.{name}.maxReplicas")
        if (low is None) != (high is None):
            missing = "maxReplicas" if high is None else "minReplicas"
            problems.append(
                Problem(
                    path=f"{path}.workers.{name}.{missing}",
                    message="must be set together with " + ("minReplicas" if high is None else "maxReplicas"),
                    hint="set both for the cluster autoscaler, or set replicas instead",
                )
            )
        elif low is not None and high is not None and low > high:
            problems.append(
                Problem(path=f"{path}.workers.{name}.minReplicas", message=f"is larger than maxReplicas ({high})", value=low)
            )
    pods, services = values.get("network.pods", ()), values.get("network.services", ())
    # A block that is not a CIDR is reported where it was written; it cannot be compared.
    blocks = [("pods", b) for b in pods if is_cidr(b)] + [("services", b) for b in services if is_cidr(b)]
    for i, (kind_a, a) in enumerate(blocks):
        for kind_b, b in blocks[i + 1 :]:
            if cidrs_overlap(a, b):
                problems.append(
                    Problem(
                        path=f"{path}.network.{kind_b}",
                        message=f"{b} overlaps {kind_a} block {a}",
                        hint="pod and service ranges must not overlap",
                    )
                )
    return problems


def to_cluster_spec(
    merged: Merged,
    *,
    entry: ClusterEntry,
    fleet: str,
    namespace: str,
    provider_config: Any,
    gitops: Optional[GitOpsSpec],
    source: str = "",
) -> ClusterSpec:
    values = merged.values

    def pool(name: str) -> WorkerPool:
        base = f"workers.{name}."
        labels = {k[len(base) + 7 :]: v for k, v in values.items() if k.startswith(base + "labels.")}
        return WorkerPool(
            name=name,
            replicas=values.get(base + "replicas"),
            min_replicas=values.get(base + "minReplicas"),
            max_replicas=values.get(base + "maxReplicas"),
            machine_size=values.get(base + "machineSize"),
            failure_domain=values.get(base + "failureDomain"),
            labels=dict(sorted(labels.items())),
            taints=tuple(values.get(base + "taints") or ()),
        )

    return ClusterSpec(
        name=entry.name,
        fleet=fleet,
        environment=entry.environment,
        namespace=namespace,
        provider=entry.provider,
        region=entry.region,
        flavor=entry.flavor,
        mode=entry.mode,
        kubernetes_version=values["kubernetesVersion"],
        control_plane=ControlPlane(replicas=values["controlPlane.replicas"], machine_size=values.get("controlPlane.machineSize")),
        workers=tuple(pool(name) for name in merged.pool_order),
        addons={k.removeprefix("addons."): v for k, v in sorted(values.items()) if k.startswith("addons.")},
        network=ClusterNetwork(
            pods=tuple(values["network.pods"]),
            services=tuple(values["network.services"]),
            service_domain=values["network.serviceDomain"],
        ),
        health_checks=values["healthChecks"],
        provider_config=provider_config,
        gitops=gitops,
        source=source,
    )
