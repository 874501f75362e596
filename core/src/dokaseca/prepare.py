"""Phase 1 for a fleet: each selected cluster's provider prepares what Cluster
API needs before it can build the cluster (IAM, key pairs, networks, images,
bare-metal hosts), several clusters at a time.

A cluster that fails is reported with its reason and the others go on;
providers guard what clusters share (an account's IAM, an environment's
network) themselves, as the ``prepare_infrastructure`` hook asks.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import attrs

from dokaseca.errors import DokasecaError
from dokaseca.kube import ManagementCluster
from dokaseca.models import ClusterSpec, InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.progress import reporting

Progress = Callable[[str, str], None]  # (cluster name, what happened)


@attrs.define(kw_only=True)
class PrepareOutcome:
    name: str
    environment: str
    provider: str
    dry_run: bool
    actions: list[str] = attrs.field(factory=list)  # changes made, or with dry_run the planned ones
    outputs: dict[str, Any] = attrs.field(factory=dict)  # ids and ARNs; never a credential
    error: str = ""
    exit_code: int = 0
    has_prepare: bool = True  # False: no installed plugin prepares this provider (nothing to do)

    @property
    def infra(self) -> InfraResult:
        return InfraResult(outputs=self.outputs, actions=tuple(self.actions))

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def prepare_cluster(host: PluginHost, cluster: ClusterSpec, *, management: ManagementCluster, dry_run: bool = False) -> Optional[InfraResult]:
    """What the cluster's provider prepared, or None when no plugin prepares it."""
    provider = host.provider(cluster.provider)
    result = host.hook.prepare_infrastructure(cluster=cluster, provider=provider, dry_run=dry_run, management=management)
    if result is None:
        return None
    if not isinstance(result, InfraResult):
        raise DokasecaError(f"the prepare_infrastructure plugin for {provider.name!r} returned {type(result).__name__}, not InfraResult")
    return result


def prepare_fleet(
    host: PluginHost,
    clusters: Sequence[ClusterSpec],
    *,
    management: ManagementCluster,
    dry_run: bool = False,
    concurrency: int = 4,
    progress: Progress = lambda name, what: None,
) -> list[PrepareOutcome]:
    """Prepare every cluster, at most ``concurrency`` at a time, in the order given."""
    lock = threading.Lock()  # progress lines from several threads must not interleave

    def say(name: str, what: str) -> None:
        with lock:
            progress(name, what)

    def one(cluster: ClusterSpec) -> PrepareOutcome:
        outcome = PrepareOutcome(name=cluster.name, environment=cluster.environment, provider=cluster.provider, dry_run=dry_run)
        say(cluster.name, f"planning ({cluster.provider})" if dry_run else f"preparing ({cluster.provider})")
        try:
            with reporting(lambda what: say(cluster.name, what)):
                result = prepare_cluster(host, cluster, management=management, dry_run=dry_run)
        except DokasecaError as exc:
            # Providers may name the cluster themselves; the reader must see it once, not twice or never.
            message = str(exc)
            outcome.error = message if cluster.name in message else f"cluster {cluster.name}: {message}"
            outcome.exit_code = exc.exit_code
            say(cluster.name, "failed (the reason is given below)")
            return outcome
        if result is None:
            outcome.has_prepare = False
            say(cluster.name, f"nothing to prepare: no installed plugin prepares {cluster.provider!r}")
            return outcome
        outcome.actions, outcome.outputs = list(result.actions), dict(result.outputs)
        verb = "would change" if dry_run else "changed"
        say(cluster.name, f"{verb} {len(result.actions)} resource(s)" if result.actions else "up to date")
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, clusters))


def save_outputs(state_dir: Path, outcomes: Sequence[PrepareOutcome]) -> None:
    """Keep what a real (not dry) prepare found, for ``apply --no-prepare`` and ``render --prepared``."""
    for outcome in outcomes:
        if outcome.error or outcome.dry_run:
            continue
        state_dir.mkdir(parents=True, exist_ok=True)
        path = _outputs_path(state_dir, outcome.name)
        path.write_text(json.dumps(outcome.outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def saved_outputs(state_dir: Path, cluster: ClusterSpec) -> InfraResult:
    """What the last ``dokaseca prepare`` saved for the cluster; empty if it never ran."""
    path = _outputs_path(state_dir, cluster.name)
    if not path.is_file():
        return InfraResult()
    try:
        return InfraResult(outputs=json.loads(path.read_text(encoding="utf-8")))
    except ValueError:
        raise DokasecaError(f"{path} is not valid JSON; run `dokaseca prepare` again to rewrite it") from None


def _outputs_path(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.prepared.json"
