"""Prepare a Metal3 cluster on the management cluster (the ``prepare_infrastructure`` hook).

1. Read and check, writing nothing: every BareMetalHost (a machine must not
   be registered twice), the BMC credentials the inventory names, and, with
   static addressing, the namespace's other IPPools (no overlap with ours).
   The IPPool itself is applied by ``apply`` with the cluster's manifests:
   one writer per object, so prepare and apply never undo each other's labels.
2. Register the inventory's hosts in the cluster's namespace: a Secret with
   the BMC credentials, then a BareMetalHost naming it. A host that is (being)
   provisioned or deprovisioned, or taken by a machine (``spec.consumerRef``),
   is left alone, its Secret too, and reported.
3. Check that every pool finds enough usable hosts (:mod:`capacity`).

A live object that already is what we would apply is not written (see
:mod:`ownership`): a second run makes no mutating request. Clusters sharing a
namespace (per-environment namespaces) register the same hosts; a lock per
namespace lets the first do it and the others find it done.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import defaultdict
from typing import Any, Mapping, Optional

from dokaseca.errors import ProviderError
from dokaseca.kube import Kube, ManagementCluster
from dokaseca.models import ClusterSpec, InfraResult

from dokaseca_metal3 import capacity, credentials, ownership
from dokaseca_metal3.inventory import Inventory, Metal3Host, load_or_fail
from dokaseca_metal3.manifests import IPAM_VERSION, ip_pool_name
from dokaseca_metal3.registration import BMC_HOST_LABEL, BMH_VERSION, bare_metal_host, bmc_secret, secret_name

# A host in one of these states runs, or is being given or stripped of, a workload.
HANDS_OFF_STATES = frozenset({"provisioning", "provisioned", "deprovisioning", "externally provisioned", "powering off before delete", "deleting"})

_namespace_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_lock = threading.Lock()


def _namespace_lock(namespace: str) -> threading.Lock:
    with _locks_lock:
        return _namespace_locks[namespace]


class _Writer:
    """Applies what differs from the live object, and records it; in a dry run only records."""

    def __init__(self, kube: Kube, dry_run: bool) -> None:
        self.kube = kube
        self.dry_run = dry_run
        self.actions: list[str] = []

    def apply(self, obj: Mapping[str, Any], live: Optional[Mapping[str, Any]]) -> None:
        if ownership.up_to_date(obj, live):
            return
        meta = obj["metadata"]
        where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        self.actions.append(f"{'create' if live is None else 'update'} {obj['kind']} {where}")
        if not self.dry_run:
            self.kube.apply([obj])


def hands_off(host: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Why a live BareMetalHost must not be touched, or None."""
    if host is None:
        return None
    consumer = (host.get("spec") or {}).get("consumerRef")
    if consumer:
        return f"used by {consumer.get('kind', 'Metal3Machine')} {consumer.get('namespace', '')}/{consumer.get('name', '')}"
    state = ((host.get("status") or {}).get("provisioning") or {}).get("state", "")
    if state in HANDS_OFF_STATES:
        return state
    if (host.get("metadata") or {}).get("deletionTimestamp"):
        return "being deleted"
    return None


def prepare(cluster: ClusterSpec, management: ManagementCluster, *, dry_run: bool) -> InfraResult:
    inventory = load_or_fail(cluster)
    serving = inventory.serving(cluster) if inventory is not None else []
    kube = management.kube
    namespace = cluster.namespace
    with _namespace_lock(namespace):
        # Everything is read, and checked, before anything is written.
        everywhere = kube.list(BMH_VERSION, "BareMetalHost")
        if inventory is not None:
            _refuse_duplicates(cluster, inventory, serving, everywhere)
        here = {h["metadata"]["name"]: h for h in everywhere if h["metadata"].get("namespace") == namespace}
        untouched = {host.name: reason for _, host in serving if (reason := hands_off(here.get(host.name)))}
        to_register = [(host, credentials.read(inventory, index, host)) for index, host in serving if host.name not in untouched]
        secrets = {obj["metadata"]["name"]: obj for obj in kube.list("v1", "Secret", namespace=namespace, label_selector=BMC_HOST_LABEL)}
        clashes = _ip_pool_clashes(cluster, kube)
        if clashes:
            raise ProviderError(f"cluster {cluster.name!r} (namespace {namespace}): " + "; ".join(clashes))

        writer = _Writer(kube, dry_run)
        if kube.get("v1", "Namespace", namespace) is None:
            from dokaseca.render import namespace_objects  # the same object apply applies

            writer.apply(namespace_objects([cluster])[0], None)
        for host, (username, password) in to_register:
            secret = bmc_secret(cluster, host, username, password)
            # A Secret of that name we did not label (made by hand) is taken over, and said so.
            writer.apply(secret, secrets.get(secret["metadata"]["name"]) or kube.get("v1", "Secret", secret_name(host), namespace))
            desired = bare_metal_host(cluster, host, inventory.site)
            writer.apply(desired, here.get(host.name))
            here[host.name] = _after_apply(desired, here.get(host.name))
        pools, short = capacity.check(cluster, list(here.values()))
    if short:
        done = f" ({len(writer.actions)} change(s) made before the check)" if writer.actions and not dry_run else ""
        raise ProviderError(
            f"cluster {cluster.name!r} (namespace {namespace}): " + "; ".join(short)
            + "; add hosts to the inventory or free some, or lower the pools' replicas" + done
        )
    outputs: dict[str, Any] = {"namespace": namespace, "hosts": sorted(host.name for _, host in serving), "pools": pools}
    if untouched:
        outputs["untouched_hosts"] = untouched
    if cluster.provider_config.network.mode == "static":
        outputs["ip_pool"] = ip_pool_name(cluster)
    return InfraResult(outputs=outputs, actions=tuple(writer.actions))


def _after_apply(desired: Mapping[str, Any], live: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The host as it is once ``desired`` is applied (labels are what pools select on)."""
    if live is None:
        return desired
    ours = {path[2] for path in ownership.owned_fields(live) if path[:2] == ("metadata", "labels")}
    labels = {key: value for key, value in ((live.get("metadata") or {}).get("labels") or {}).items() if key not in ours}
    labels.update(desired["metadata"]["labels"])
    return {**live, "metadata": {**live["metadata"], "labels": labels}}


def _refuse_duplicates(cluster: ClusterSpec, inventory: Inventory, serving: list[tuple[int, Metal3Host]], everywhere: list[dict[str, Any]]) -> None:
    """A machine registered twice would be driven by two BareMetalHosts: refuse before writing anything."""
    by_mac: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_address: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for other in everywhere:
        spec = other.get("spec") or {}
        by_mac[str(spec.get("bootMACAddress") or "").lower()].append(other)
        by_address[str((spec.get("bmc") or {}).get("address") or "")].append(other)
    found = []
    for index, host in serving:
        for what, others in (("boot MAC", by_mac[host.boot_mac_address.lower()]), ("BMC address", by_address[host.bmc.address])):
            for other in others:
                meta = other["metadata"]
                if (meta.get("namespace"), meta["name"]) != (cluster.namespace, host.name):
                    found.append(f"host {host.name!r} ({inventory.where(index)}) has the {what} of BareMetalHost {meta.get('namespace')}/{meta['name']}")
    if found:
        raise ProviderError(
            f"cluster {cluster.name!r}: " + "; ".join(sorted(set(found))) + "; a machine must be registered once: give the host an "
            "`environment:` so only that environment's clusters register it, list each cluster's hosts in its own inventory "
            "(per-cluster namespaces), or remove the other BareMetalHost"
        )


def _bounds(entry: Mapping[str, Any]) -> Optional[tuple[Any, Any]]:
    """The first and last address of one IPPool range (start/end, or a subnet)."""
    try:
        if entry.get("start"):
            start = ipaddress.ip_address(entry["start"])
            end = ipaddress.ip_address(entry["end"]) if entry.get("end") else None
            if end is None and entry.get("subnet"):
                end = ipaddress.ip_network(entry["subnet"], strict=False).broadcast_address
            return start, end or start
        if entry.get("subnet"):
            network = ipaddress.ip_network(entry["subnet"], strict=False)
            return network.network_address, network.broadcast_address
    except ValueError:
        return None
    return None


def _ip_pool_clashes(cluster: ClusterSpec, kube: Kube) -> list[str]:
    """The namespace's other IPPools that would hand out our nodes' addresses, or our VIP."""
    config = cluster.provider_config
    pool = config.network.ip_pool if config.network.mode == "static" else None
    if pool is None:
        return []
    ours = ip_pool_name(cluster)
    start, end = ipaddress.ip_address(pool.start), ipaddress.ip_address(pool.end)
    vip = ipaddress.ip_address(config.control_plane_endpoint)
    found = []
    for other in kube.list(IPAM_VERSION, "IPPool", namespace=cluster.namespace):
        name, spec = other["metadata"]["name"], other.get("spec") or {}
        if name == ours:
            owner = spec.get("clusterName")
            if owner and owner != cluster.name:
                found.append(f"IPPool {cluster.namespace}/{name} belongs to cluster {owner!r}")
            continue
        for entry in spec.get("pools") or []:
            bounds = _bounds(entry)
            if bounds is None or bounds[0].version != start.version:
                continue
            low, high = bounds
            if low <= end and start <= high:
                found.append(f"metal3.network.ipPool {pool.start}-{pool.end} overlaps IPPool {cluster.namespace}/{name} ({low}-{high})")
            if low <= vip <= high:
                found.append(f"the control-plane VIP {vip} is inside IPPool {cluster.namespace}/{name} ({low}-{high})")
    return found
