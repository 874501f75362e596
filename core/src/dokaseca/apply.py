"""prepare -> render -> apply -> wait -> bootstrap GitOps, for the selected clusters of a fleet.

Every selected cluster is prepared (concurrently) and rendered before anything
is applied, so a prepare, fleet-file or render error leaves the management
cluster untouched. With ``prepare=False`` the outputs the last
``dokaseca prepare`` saved in the state directory are used instead. Kinds are discovered once,
before the clusters are applied side by side with a bound on concurrency.
A cluster that fails is reported with its reason; the others go on.
With a ``gitops:`` section and ``wait``, each ready cluster's GitOps engine is
then bootstrapped (hubs and standalone clusters first, spokes after them,
with the hub's saved kubeconfig).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import attrs

from dokaseca.errors import DokasecaError
from dokaseca.kube import Kube, ManagementCluster
from dokaseca.models import BootstrapResult, ClusterSpec, InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.prepare import prepare_fleet, save_outputs, saved_outputs
from dokaseca.render import RenderedCluster, namespace_objects, render_cluster

Progress = Callable[[str, str], None]  # (cluster name, what happened)


@attrs.define(kw_only=True)
class ClusterOutcome:
    name: str
    namespace: str
    objects: int = 0
    ready: Optional[bool] = None
    kubeconfig: Optional[str] = None
    gitops: Optional[str] = None  # what the GitOps bootstrap said (never a credential)
    gitops_ready: Optional[bool] = None  # None: not bootstrapped (no gitops section, no wait, cluster not ready)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def bootstrap(
    host: PluginHost,
    cluster: ClusterSpec,
    kubeconfig_path: str,
    hub_kubeconfig: Optional[str] = None,
    *,
    timeout: float = 1800,
    infra: Optional[InfraResult] = None,
) -> BootstrapResult:
    """Install and register the cluster's GitOps engine through the ``bootstrap_gitops`` hook."""
    from dokaseca.gitops import cluster_metadata

    if cluster.gitops is None:
        raise DokasecaError(f"cluster {cluster.name!r}: the fleet file has no gitops: section, nothing to bootstrap")
    engine = cluster.gitops.engine
    metadata = cluster_metadata(host, cluster, infra)
    try:
        result = host.hook.bootstrap_gitops(
            cluster=cluster,
            engine=engine,
            kubeconfig=str(kubeconfig_path),
            metadata=metadata,
            hub_kubeconfig=str(hub_kubeconfig) if hub_kubeconfig else None,
            timeout=timeout,
        )
    except ValueError as exc:  # the GitOps objects could not be built from the fleet file
        raise DokasecaError(f"cluster {cluster.name!r}: {exc}") from None
    if result is None:
        raise DokasecaError(f"no plugin bootstraps GitOps engine {engine!r} (cluster {cluster.name!r}); is its plugin installed?")
    if not isinstance(result, BootstrapResult):
        raise DokasecaError(f"the bootstrap_gitops plugin for {engine!r} returned {type(result).__name__}, not BootstrapResult")
    return result


def apply_fleet(
    host: PluginHost,
    clusters: Sequence[ClusterSpec],
    kube: Kube,
    *,
    wait: bool = True,
    prepare: bool = True,
    timeout: float = 1800,
    concurrency: int = 4,
    state_dir: Path,
    progress: Progress = lambda name, what: None,
) -> list[ClusterOutcome]:
    if prepare:
        prepared = prepare_fleet(host, clusters, management=ManagementCluster(kube=kube), concurrency=concurrency, progress=progress)
        failed = [o for o in prepared if o.error]
        if failed:  # nothing is applied unless every selected cluster could be prepared
            raise DokasecaError("; ".join(o.error for o in failed))
        save_outputs(state_dir, prepared)
        infras = {o.name: o.infra for o in prepared}  # render and the GitOps metadata both need what prepare found
    else:
        infras = {c.name: saved_outputs(state_dir, c) for c in clusters}
    rendered = [render_cluster(host, cluster, infras[cluster.name]) for cluster in clusters]
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
        outcomes = list(pool.map(one, rendered))
    if wait:
        _bootstrap_ready(
            host, [r.cluster for r in rendered], outcomes, infras, timeout=timeout, concurrency=concurrency, state_dir=state_dir, progress=progress
        )
    return outcomes


def _bootstrap_ready(
    host: PluginHost,
    clusters: Sequence[ClusterSpec],
    outcomes: Sequence[ClusterOutcome],
    infras: dict[str, InfraResult],
    *,
    timeout: float,
    concurrency: int,
    state_dir: Path,
    progress: Progress,
) -> None:
    """Bootstrap GitOps on every ready cluster: hubs and standalone ones first, then spokes."""
    from dokaseca.gitops_objects import is_spoke

    pairs = [(c, o) for c, o in zip(clusters, outcomes) if c.gitops is not None and o.ready and o.kubeconfig]

    def one(pair: tuple[ClusterSpec, ClusterOutcome]) -> None:
        cluster, outcome = pair
        hub_kubeconfig = None
        if is_spoke(cluster):
            hub = cluster.gitops.hub if cluster.gitops else None
            hub_outcome = next((o for c, o in zip(clusters, outcomes) if c.name == hub), None)
            if hub_outcome is not None and not hub_outcome.gitops_ready:
                outcome.gitops_ready, outcome.gitops = False, f"not bootstrapped: hub {hub!r} is not bootstrapped"
                progress(cluster.name, f"GitOps {outcome.gitops}")
                return
            saved = state_dir / f"{hub}.kubeconfig"
            hub_kubeconfig = hub_outcome.kubeconfig if hub_outcome is not None else (str(saved) if saved.is_file() else None)
        progress(cluster.name, f"bootstrapping {cluster.gitops.engine if cluster.gitops else 'GitOps'}")
        try:
            result = bootstrap(host, cluster, outcome.kubeconfig or "", hub_kubeconfig, timeout=timeout, infra=infras.get(cluster.name))
        except DokasecaError as exc:
            outcome.gitops_ready, outcome.gitops = False, f"failed: {exc}"
            progress(cluster.name, f"GitOps bootstrap {outcome.gitops}")
            return
        outcome.gitops_ready, outcome.gitops = result.ready, result.message
        progress(cluster.name, result.message if result.ready else f"GitOps bootstrap not done: {result.message}")

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, [p for p in pairs if not is_spoke(p[0])]))
        list(pool.map(one, [p for p in pairs if is_spoke(p[0])]))


def _summary(conditions: dict[str, str]) -> str:
    from dokaseca.kube import READY_CONDITIONS

    return ", ".join(f"{c}={conditions.get(c, '?')}" for c in READY_CONDITIONS)
