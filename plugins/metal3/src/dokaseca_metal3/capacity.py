"""Can each pool of a cluster find its hosts? Checked by ``prepare`` against
the BareMetalHosts of the cluster's namespace, so that a short pool is named
before Cluster API waits for machines that never come.

A pool needs its ``replicas`` (an autoscaled pool its ``minReplicas``: the
autoscaler adds machines only while hosts are free) hosts matching its
selector. Pools with overlapping selectors compete for the same hosts (two
worker pools without sizes select the same ones), so hosts are assigned to
pools as a bipartite matching, one host per machine, not counted per pool.

A host counts when CAPM3 can take it now or soon: free (no consumer), not
being deleted, not in error, not paused, and registering, inspecting or
available. Hosts this cluster already took count for it too.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import attrs

from dokaseca.manifests import CLUSTER_NAME_LABEL
from dokaseca.models import ClusterSpec

from dokaseca_metal3.config import CONTROL_PLANE_SELECTOR
from dokaseca_metal3.manifests import host_selectors

# The provisioning states on the way to `available`, and `available` itself
# (`ready` before BMO 0.5). CAPM3 takes only available hosts; the others get there.
USABLE_STATES = frozenset({"", "registering", "match profile", "inspecting", "preparing", "available", "ready"})
PAUSED_ANNOTATION = "baremetalhost.metal3.io/paused"
UNHEALTHY_ANNOTATION = "capi.metal3.io/unhealthy"
_LISTED = 5  # unusable hosts named in a message, at most


@attrs.frozen(kw_only=True)
class Pool:
    name: str  # "controlPlane" or a worker pool's name
    needs: int
    selector: Mapping[str, str]


def pools(cluster: ClusterSpec) -> list[Pool]:
    """The control plane and each worker pool, with the hosts they need and their selectors."""
    selectors = host_selectors(cluster)
    found = [
        Pool(name=CONTROL_PLANE_SELECTOR, needs=cluster.control_plane.replicas, selector=selectors[CONTROL_PLANE_SELECTOR]["matchLabels"])
    ]
    for pool in cluster.workers:
        needs = (pool.min_replicas or 0) if pool.autoscaled else (pool.replicas or 0)
        found.append(Pool(name=pool.name, needs=needs, selector=selectors[pool.name]["matchLabels"]))
    return found


def unusable(host: Mapping[str, Any], cluster: str) -> Optional[str]:
    """Why ``cluster`` cannot count on ``host`` (a BareMetalHost), or None."""
    meta, spec, status = host.get("metadata") or {}, host.get("spec") or {}, host.get("status") or {}
    consumer = spec.get("consumerRef")
    if consumer:
        if (meta.get("labels") or {}).get(CLUSTER_NAME_LABEL) == cluster:
            return None  # already one of this cluster's machines
        return f"in use by {consumer.get('namespace', '')}/{consumer.get('name', '')}"
    if meta.get("deletionTimestamp"):
        return "being deleted"
    if status.get("errorType") or status.get("errorMessage") or status.get("operationalStatus") == "error":
        return status.get("errorType") or "in error"
    annotations = meta.get("annotations") or {}
    if PAUSED_ANNOTATION in annotations:
        return "paused"
    if UNHEALTHY_ANNOTATION in annotations:
        return "marked unhealthy"
    state = (status.get("provisioning") or {}).get("state", "")
    if state not in USABLE_STATES:
        return f"state {state!r}"
    return None


def _matches(host: Mapping[str, Any], selector: Mapping[str, str]) -> bool:
    labels = (host.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _assign(pools: Sequence[Pool], candidates: Sequence[list[int]]) -> list[int]:
    """How many hosts each pool gets in a largest assignment (Kuhn's augmenting paths)."""
    slots = [index for index, pool in enumerate(pools) for _ in range(pool.needs)]
    holder: dict[int, int] = {}  # host -> slot

    def place(slot: int, tried: set[int]) -> bool:
        for host in candidates[slots[slot]]:
            if host not in tried:
                tried.add(host)
                if host not in holder or place(holder[host], tried):
                    holder[host] = slot
                    return True
        return False

    got = [0] * len(pools)
    for slot in range(len(slots)):
        if place(slot, set()):
            got[slots[slot]] += 1
    return got


def _selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in selector.items())


def check(cluster: ClusterSpec, hosts: Sequence[Mapping[str, Any]]) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Per pool ``{"needs", "matching"}``, and a sentence for each pool that is short of hosts."""
    wanted = pools(cluster)
    why = [unusable(host, cluster.name) for host in hosts]
    candidates = [[i for i, host in enumerate(hosts) if why[i] is None and _matches(host, pool.selector)] for pool in wanted]
    got = _assign(wanted, candidates)
    report = {pool.name: {"needs": pool.needs, "matching": len(candidates[i])} for i, pool in enumerate(wanted)}
    short = []
    for i, pool in enumerate(wanted):
        if got[i] >= pool.needs:
            continue
        missing = pool.needs - got[i]
        text = (
            f"pool {pool.name!r} is short of {missing} host{'s' if missing > 1 else ''} "
            f"(needs {pool.needs} matching {_selector_text(pool.selector)}, {got[i]} available"
        )
        if len(candidates[i]) > got[i]:
            others = sorted({wanted[j].name for j in range(len(wanted)) if j != i and set(candidates[j]) & set(candidates[i])})
            text += f"; {len(candidates[i]) - got[i]} more match but pool(s) {', '.join(others)} need them"
        blocked = [f"{hosts[h]['metadata']['name']} ({why[h]})" for h in range(len(hosts)) if why[h] and _matches(hosts[h], pool.selector)]
        if blocked:
            text += "; not usable: " + ", ".join(blocked[:_LISTED]) + (f" and {len(blocked) - _LISTED} more" if len(blocked) > _LISTED else "")
        short.append(text + ")")
    return report, short
