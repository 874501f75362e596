"""prepare -> render -> apply -> wait, for the selected clusters of a fleet.

Everything is rendered before anything is applied, so a fleet-file or render
error leaves the management cluster untouched. Kinds are discovered once,
before the clusters are applied side by side with a bound on concurrency.
A cluster that fails is reported with its reason; the others go on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import attrs

from dokaseca.errors import DokasecaError
from dokaseca.kube import Kube
from dokaseca.models import ClusterSpec, InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.render import RenderedCluster, namespace_objects, render_cluster

Progress = Callable[[str, str], None]  # (cluster name, what happened)


@attrs.define(kw_only=True)
class ClusterOutcome:
    name: str
    namespace: str
    objects: int = 0
    ready: Optional[bool] = None
    kubeconfig: Optional[str] = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def prepare(host: PluginHost, cluster: ClusterSpec, *, dry_run: bool = False) -> InfraResult:
    provider = host.provider(cluster.provider)
    result = host.hook.prepare_infrastructure(cluster=cluster, provider=provider, dry_run=dry_run)
    return result if result is not None else InfraResult()  # a provider with nothing to prepare


def apply_fleet(
    host: PluginHost,
    clusters: Sequence[ClusterSpec],
    kube: Kube,
    *,
    wait: bool = True,
    timeout: float = 1800,
    concurrency: int = 4,
    state_dir: Path,
    progress: Progress = lambda name, what: None,
) -> list[ClusterOutcome]:
    rendered: list[RenderedCluster] = []
    for cluster in clusters:
        progress(cluster.name, "preparing infrastructure")
        rendered.append(render_cluster(host, cluster, prepare(host, cluster)))
    for kind in sorted({(o["apiVersion"], o["kind"]) for r in rendered for o in r.objects}):
        kube.resource(*kind)  # discovery once, before the threads share it
    kube.apply(namespace_objects(clusters))

    def one(item: RenderedCluster) -> ClusterOutcome:
        cluster = item.cluster
        outcome = ClusterOutcome(name=cluster.name, namespace=cluster.namespace)
        try:
            progress(cluster.name, f"applying {len(item.objects)} objects")
            outcome.objects = kube.apply(item.objects)
            if wait:
                progress(cluster.name, "waiting for the control plane")
                kube.wait_for_cluster(
                    cluster.name,
                    cluster.namespace,
                    timeout=timeout,
                    on_change=lambda conditions: progress(cluster.name, _summary(conditions)),
                )
                outcome.ready = True
                path = kube.save_workload_kubeconfig(cluster.name, cluster.namespace, state_dir)
                outcome.kubeconfig = str(path)
                progress(cluster.name, "ready")
        except DokasecaError as exc:
            outcome.ready = False if wait else None
            outcome.error = str(exc)
            progress(cluster.name, f"failed: {exc}")
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, rendered))


def _summary(conditions: dict[str, str]) -> str:
    from dokaseca.kube import READY_CONDITIONS

    return ", ".join(f"{c}={conditions.get(c, '?')}" for c in READY_CONDITIONS)
