"""The render pipeline: fleet -> per-cluster list of manifests, in apply order.

Pure and deterministic: no network, no SDK import, no clock. The same fleet
file and plugins give byte-identical output.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping, Optional

import attrs

from dokaseca.capi import render_core
from dokaseca.errors import ProviderError
from dokaseca.manifests import k8s_object
from dokaseca.models import ClusterSpec, InfraResult, ProviderManifests
from dokaseca.plugins import PluginHost

# Dependency order for applying: what others reference goes first, the
# Cluster (which makes the controllers act) goes last.
_RANK_BY_KIND = {
    "Namespace": 0,
    "Secret": 1,
    "ConfigMap": 1,
    "ClusterClass": 4,
    "MachineHealthCheck": 8,
    "Cluster": 9,
}


def apply_rank(obj: Mapping[str, Any]) -> int:
    kind = obj.get("kind", "")
    if kind in _RANK_BY_KIND:
        return _RANK_BY_KIND[kind]
    if kind.endswith("Identity"):
        return 2
    if kind.endswith("Template"):
        return 3
    return 6


@attrs.frozen(kw_only=True)
class RenderedCluster:
    cluster: ClusterSpec
    objects: tuple[dict[str, Any], ...]


def render_cluster(host: PluginHost, cluster: ClusterSpec, infra: Optional[InfraResult] = None) -> RenderedCluster:
    provider = host.provider(cluster.provider)
    provided = host.hook.render_provider_manifests(cluster=cluster, provider=provider, infra=infra or InfraResult())
    if provided is None:
        raise ProviderError(
            f"plugin {provider.plugin!r} registered provider {provider.name!r} but rendered nothing for cluster {cluster.name!r}"
        )
    if not isinstance(provided, ProviderManifests):
        raise ProviderError(f"plugin {provider.plugin!r} returned {type(provided).__name__}, not ProviderManifests")
    objects = [copy.deepcopy(dict(o)) for o in provider_objects(provided)]
    try:
        objects += render_core(cluster, provided)
    except ValueError as exc:
        raise ProviderError(str(exc)) from None
    host.hook.modify_manifests(cluster=cluster, manifests=objects)
    objects.sort(key=apply_rank)  # stable: ties keep the order they were built in
    return RenderedCluster(cluster=cluster, objects=tuple(objects))


def provider_objects(provided: ProviderManifests) -> list[Mapping[str, Any]]:
    objects: list[Mapping[str, Any]] = [*provided.extra, provided.infrastructure_cluster]
    if provided.control_plane_machine_template is not None:
        objects.append(provided.control_plane_machine_template)
    objects += [provided.worker_machine_templates[name] for name in provided.worker_machine_templates]
    objects += [provided.worker_machine_pool_templates[name] for name in provided.worker_machine_pool_templates]
    if provided.control_plane is not None:
        objects.append(provided.control_plane)
    if provided.control_plane_template is not None:
        objects.append(provided.control_plane_template)
    objects += [provided.worker_bootstrap_templates[name] for name in provided.worker_bootstrap_templates]
    objects += provided.machine_pools
    return objects


def render_clusters(
    host: PluginHost, clusters: Iterable[ClusterSpec], infras: Optional[Mapping[str, InfraResult]] = None
) -> list[RenderedCluster]:
    """Render each cluster, with what ``prepare`` found for it when ``infras`` has it (by cluster name)."""
    return [render_cluster(host, cluster, (infras or {}).get(cluster.name)) for cluster in clusters]


def namespace_objects(clusters: Iterable[ClusterSpec]) -> list[dict[str, Any]]:
    names = sorted({c.namespace for c in clusters})
    return [k8s_object("v1", "Namespace", name) for name in names]
