"""Rules that need the ``metal3:`` block and the rest of the cluster (the
``check_cluster`` hook). Paths are relative to the cluster entry."""

from __future__ import annotations

import ipaddress

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec
from dokaseca.validators import cidrs_overlap, did_you_mean

from dokaseca_metal3 import inventory
from dokaseca_metal3.config import CONTROL_PLANE_SELECTOR, Metal3Config, pool_network, vip_problem
from dokaseca_metal3.labels import MACHINE_SIZE_LABEL, label_value_problem

_RANGE_HINT = "set {where} in the fleet file to a range the hosts' network does not use"


def problems(cluster: ClusterSpec) -> list[Problem]:
    """Every cluster-level problem of a Metal3 cluster, not just the first."""
    config: Metal3Config = cluster.provider_config
    return [
        *inventory.load(cluster)[1],
        *_host_selector_problems(cluster, config),
        *_machine_size_problems(cluster),
        *_node_subnet_problems(cluster, config),
        *endpoint_problems(cluster, config, config.control_plane_endpoint, source="metal3.controlPlaneEndpoint"),
    ]


def _host_selector_problems(cluster: ClusterSpec, config: Metal3Config) -> list[Problem]:
    # The config block cannot see the cluster's pools, so a misspelt pool name
    # is caught here; ignoring it would let the pool take any host.
    pools = [pool.name for pool in cluster.workers]
    known = {CONTROL_PLANE_SELECTOR, *pools}
    choices = f"key the selectors by 'controlPlane' or a worker pool ({', '.join(pools) or 'the cluster has none'})"
    found = []
    for selector in config.host_selectors:
        if selector not in known:
            suggestion = did_you_mean(selector, known)
            hint = f"{suggestion} {choices}" if suggestion.startswith("did you mean") else choices
            found.append(Problem(path=f"metal3.hostSelectors.{selector}", message="names no worker pool of this cluster", value=selector, hint=hint))
    return found


def _machine_size_problems(cluster: ClusterSpec) -> list[Problem]:
    # Bare-metal hosts are matched on the size as a label value; metal3.machineSize
    # is checked by the block's own validator, the pools' sizes here.
    sized = [("controlPlane.machineSize", cluster.control_plane.machine_size)]
    sized += [(f"workers.{pool.name}.machineSize", pool.machine_size) for pool in cluster.workers]
    found = []
    for path, size in sized:
        problem = label_value_problem(size) if size else None
        if problem:
            found.append(
                Problem(
                    path=path,
                    message=f"cannot be the label {MACHINE_SIZE_LABEL} that selects bare-metal hosts",
                    value=size,
                    hint=problem,
                )
            )
    return found


def _cluster_ranges(cluster: ClusterSpec) -> list[tuple[str, str]]:
    return [("network.pods", block) for block in cluster.network.pods] + [
        ("network.services", block) for block in cluster.network.services
    ]


def _nodes_subnet(config: Metal3Config) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    pool = config.network.ip_pool if config.network.mode == "static" else None
    return pool_network(pool) if pool is not None else None


def _node_subnet_problems(cluster: ClusterSpec, config: Metal3Config) -> list[Problem]:
    # Nodes sit on a real L2 network here; a pod or service range that covers
    # it (the default pod range is 192.168.0.0/16) makes the nodes unreachable
    # from inside the cluster.
    subnet = _nodes_subnet(config)
    if subnet is None:
        return []
    found = []
    for where, block in _cluster_ranges(cluster):
        if cidrs_overlap(str(subnet), block):
            found.append(
                Problem(
                    path=where,
                    message=f"overlaps the nodes' subnet {subnet} (metal3.network.ipPool)",
                    value=block,
                    hint=_RANGE_HINT.format(where=where),
                )
            )
    return found


def endpoint_problems(cluster: ClusterSpec, config: Metal3Config, endpoint: str, *, source: str) -> list[Problem]:
    """What is wrong with ``endpoint`` as the control-plane VIP of ``cluster``.

    ``source`` names where the endpoint comes from (the path of a problem with
    the address itself). For the fleet file's own endpoint only a clash with
    the cluster's pod and service ranges can show up here, the block's
    validators check the rest; render also uses this for an endpoint from
    prepare's outputs, which nothing else has checked.
    """
    try:
        vip = ipaddress.ip_address(endpoint)
    except ValueError:
        return [Problem(path=source, message="is not an IP address", value=endpoint, hint="kube-vip announces an IP address, not a name")]
    clash = vip_problem(config.network, endpoint)
    found = [] if clash is None else [Problem(path=source, message=clash.message, value=endpoint, hint=clash.hint)]
    subnet = _nodes_subnet(config)
    if subnet is not None and vip in subnet:
        # A range that contains the VIP then overlaps the nodes' subnet: reported once, as such (_node_subnet_problems).
        return found
    for where, block in _cluster_ranges(cluster):
        if vip in ipaddress.ip_network(block):
            found.append(
                Problem(
                    path=where,
                    message=f"contains the control-plane VIP {endpoint} ({source})",
                    value=block,
                    hint=_RANGE_HINT.format(where=where),
                )
            )
    return found
