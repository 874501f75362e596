"""The network the clusters of one environment share (``azure.network.create: true``).

One vnet (``azure.vnet``; by default ``<fleet>-<environment>`` in the resource
group of that name, with CAPZ's ``10.0.0.0/8``) holding the subnets its
clusters use (``azure.subnets``, CAPZ's names and ranges by default): the
control-plane and node subnets for kubeadm clusters, the node subnet for AKS.
The vnet is made with its tags and the first cluster's subnets in one call
(subnets carry no tags of their own) and found again by its name; a vnet of
that name that prepare did not make is never taken over. A subnet missing
from our vnet is added; nothing is ever changed or deleted: an address range
that differs is an error, since Azure cannot move one with machines in it.

Clusters of one environment prepared at once share one look-up: the first
makes or finds the vnet (and each subnet), the others wait for it.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any, Callable, Optional

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.progress import report

from dokaseca_azure import names
from dokaseca_azure.config import AzureConfig
from dokaseca_azure.resource_group import ensure_resource_group
from dokaseca_azure.session import Azure, absent, finished
from dokaseca_azure.tags import ours, tags

SUBNET_FIELDS = {"control-plane": "azure.subnets.controlPlane", "node": "azure.subnets.node"}

IN_FLIGHT = ("Updating", "Creating")  # ARM's provisioning states of a resource with an operation under way
SETTLE_TIMEOUT = 600  # seconds

_vnets = Once()
_subnets = Once()
_vnet_locks = Once()  # Azure takes one change to a vnet's subnets at a time


def ensure_network(azure: Azure, cluster: ClusterSpec, changes: Changes) -> Optional[dict[str, Any]]:
    """The outputs render uses (vnet, its group, the subnets), or None without ``network.create``."""
    config: AzureConfig = cluster.provider_config
    if not config.network.create:
        return None
    group, name = names.vnet(cluster)
    wanted = used_subnets(cluster)
    cidrs = names.vnet_cidrs(cluster)
    key = (azure.subscription_id, group.lower(), name.lower())
    first, (present, made_with_vnet) = changes.once(_vnets, key, lambda mine: (cidrs, _Vnet(azure, cluster, mine).ensure(wanted)))
    _agree(cluster, name, "azure.vnet.cidrBlocks", first, cidrs)
    _ensure_group(azure, cluster, changes, group)  # found above: checks this cluster's location

    found = {}
    with _vnet_locks.value(key, threading.Lock):
        for role, (subnet, subnet_cidrs) in wanted.items():

            def work(mine: Changes) -> tuple[tuple[str, ...], Any]:  # called at once, in this iteration
                return subnet_cidrs, _Vnet(azure, cluster, mine).ensure_subnet(present, made_with_vnet, role, subnet, subnet_cidrs)

            first_cidrs, found[subnet.lower()] = changes.once(_subnets, (*key, subnet.lower()), work)
            _agree(cluster, name, f"{SUBNET_FIELDS[role]}.cidrBlocks", first_cidrs, subnet_cidrs)
    return {
        "vnet_name": name,
        "vnet_resource_group": group,
        "subnets": subnet_outputs(azure, group, name, found, wanted),
    }


def used_subnets(cluster: ClusterSpec) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Role -> (name, ranges) of the subnets the cluster uses: AKS has no control-plane machines."""
    roles = ("node",) if cluster.managed else ("control-plane", "node")
    return {role: spec for role, spec in names.subnets(cluster).items() if role in roles}


def subnet_outputs(
    azure: Azure, group: str, vnet: str, found: dict[str, Any], wanted: dict[str, tuple[str, tuple[str, ...]]]
) -> list[dict[str, Any]]:
    """``[{name, role, id, cidr}]`` per role, with Azure's id when the subnet exists."""
    vnet_id = f"{azure.group_id(group)}/providers/Microsoft.Network/virtualNetworks/{vnet}"
    listed = []
    for role, (name, cidrs) in wanted.items():
        subnet = found.get(name.lower())
        prefixes = prefixes_of(subnet) if subnet is not None else list(cidrs)
        listed.append(
            {"name": name, "role": role, "id": subnet.id if subnet is not None else f"{vnet_id}/subnets/{name}", "cidr": prefixes[0]}
        )
    return listed


def prefixes_of(subnet: Any) -> list[str]:
    return list(subnet.address_prefixes or ([subnet.address_prefix] if subnet.address_prefix else []))


def same_ranges(have: list[str], want: tuple[str, ...]) -> bool:
    return sorted(ipaddress.ip_network(p, strict=False) for p in have) == sorted(ipaddress.ip_network(p) for p in want)


def _ensure_group(azure: Azure, cluster: ClusterSpec, changes: Changes, group: str) -> None:
    config: AzureConfig = cluster.provider_config
    field = "azure.vnet.resourceGroup" if config.vnet.resource_group else "the default of azure.vnet.resourceGroup"
    fix = f"For the clusters of {azure.location}, set azure.vnet.resourceGroup and azure.vnet.name to a network of their own"
    ensure_resource_group(azure, cluster, changes, group, field, fix)


def _agree(cluster: ClusterSpec, vnet: str, field: str, first: tuple[str, ...], mine: tuple[str, ...]) -> None:
    if first != mine:
        raise ProviderError(
            f"cluster {cluster.name}: vnet {vnet!r} is shared with a cluster that asks for other ranges ({field}: "
            f"{', '.join(first)} there, {', '.join(mine)} here); give the clusters of an environment the same settings, "
            "or set azure.vnet.name to keep their networks apart"
        )


class _Vnet:
    def __init__(self, azure: Azure, cluster: ClusterSpec, changes: Changes) -> None:
        self.azure = azure
        self.cluster = cluster
        self.changes = changes
        self.group, self.name = names.vnet(cluster)
        self.networks = azure.client("network")
        self.where = f"cluster {cluster.name}: vnet {self.name!r} in resource group {self.group!r}"

    def ensure(self, wanted: dict[str, tuple[str, tuple[str, ...]]]) -> tuple[dict[str, Any], frozenset[str]]:
        """Find or make the vnet (with ``wanted`` subnets): its subnets as Azure has
        them, by lower-cased name, and the names of those made with it just now."""
        _ensure_group(self.azure, self.cluster, self.changes, self.group)
        vnet = absent(self.networks.virtual_networks.get, resource_group_name=self.group, virtual_network_name=self.name)
        if vnet is not None:
            self._check(vnet)
            vnet = self._settled(vnet)
            return {s.name.lower(): s for s in vnet.subnets or ()}, frozenset()
        made = self._create(wanted)
        subnets = {s.name.lower(): s for s in made.subnets or ()} if made is not None else {}  # None: a dry run
        return subnets, frozenset(name.lower() for name, _ in wanted.values())

    def ensure_subnet(self, present: dict[str, Any], made_with_vnet: frozenset[str], role: str, name: str, cidrs: tuple[str, ...]) -> Any:
        """The subnet as Azure has it, made if missing; None in a dry run before it exists."""
        subnet = present.get(name.lower())
        if subnet is not None:
            have = prefixes_of(subnet)
            if not same_ranges(have, cidrs):
                raise ProviderError(
                    f"{self.where}: subnet {subnet.name!r} has {', '.join(have)} but {SUBNET_FIELDS[role]}.cidrBlocks asks for "
                    f"{', '.join(cidrs)}; a subnet in use cannot change its range: set the field back, or name another subnet"
                )
            return self._settled_subnet(subnet)
        if name.lower() in made_with_vnet:
            return None  # a dry run: planned with the vnet
        return self.changes.make(
            f"create subnet {name} {', '.join(cidrs)} in vnet {self.name}",
            finished(self.networks.subnets.begin_create_or_update, f"subnet {name}"),
            resource_group_name=self.group,
            virtual_network_name=self.name,
            subnet_name=name,
            subnet_parameters=_subnet(name, cidrs),
        )

    def _create(self, wanted: dict[str, tuple[str, tuple[str, ...]]]) -> Optional[Any]:
        from azure.mgmt.network.models import AddressSpace, VirtualNetwork

        cidrs = names.vnet_cidrs(self.cluster)
        listed = "; ".join(f"{name} {', '.join(ranges)}" for name, ranges in wanted.values())
        return self.changes.make(
            f"create vnet {self.name} {', '.join(cidrs)} in {self.group} with subnets {listed}",
            finished(self.networks.virtual_networks.begin_create_or_update, f"vnet {self.name}"),
            resource_group_name=self.group,
            virtual_network_name=self.name,
            parameters=VirtualNetwork(
                location=self.azure.location,
                tags=tags(self.cluster, shared=True),
                address_space=AddressSpace(address_prefixes=list(cidrs)),
                subnets=[_subnet(name, ranges) for name, ranges in wanted.values()],
            ),
        )

    def _settled(self, vnet: Any) -> Any:
        """The vnet once no operation is under way on it; see :meth:`_settle`."""
        return self._settle(
            vnet,
            f"vnet {self.name}",
            lambda: self.networks.virtual_networks.get(resource_group_name=self.group, virtual_network_name=self.name),
            self.networks.virtual_networks.begin_create_or_update,
            resource_group_name=self.group,
            virtual_network_name=self.name,
        )

    def _settled_subnet(self, subnet: Any) -> Any:
        return self._settle(
            subnet,
            f"subnet {subnet.name} of vnet {self.name}",
            lambda: self.networks.subnets.get(resource_group_name=self.group, virtual_network_name=self.name, subnet_name=subnet.name),
            self.networks.subnets.begin_create_or_update,
            resource_group_name=self.group,
            virtual_network_name=self.name,
            subnet_name=subnet.name,
        )

    def _settle(self, resource: Any, what: str, get: Callable[[], Any], begin_put: Callable[..., Any], **names: str) -> Any:
        """``resource`` once no operation is under way on it (a run killed while
        Azure made it leaves it ``Updating`` for a while), put again as it is
        when its last operation failed: a PUT of the same resource is how Azure
        retries it (a vnet's body lists its subnets, so none is lost)."""
        started = time.monotonic()
        pause = 0.5
        while _state(resource) in IN_FLIGHT:
            if time.monotonic() - started > SETTLE_TIMEOUT:
                raise ProviderError(f"{self.where}: {what} is still {_state(resource)} after {SETTLE_TIMEOUT // 60} minutes; run prepare again later")
            report(f"waiting for {what}: {_state(resource)} ({time.monotonic() - started:.0f} s)")
            time.sleep(pause)
            pause = min(pause * 2, 15.0)
            resource = get()
        if _state(resource) == "Deleting":
            raise ProviderError(f"{self.where}: {what} is being deleted; run prepare again once it is gone")
        if _state(resource) == "Failed":
            body = "subnet_parameters" if "subnet_name" in names else "parameters"
            repaired = self.changes.make(
                f"put {what} again (its last operation failed)", finished(begin_put, what), **names, **{body: resource}
            )
            return repaired if repaired is not None else resource  # None: a dry run
        return resource

    def _check(self, vnet: Any) -> None:
        if not ours(vnet.tags):
            raise ProviderError(
                f"{self.where} exists and was not made by dokaseca; prepare never takes a vnet over. Set azure.network.create: false "
                "to use it as your own (its subnets must exist), or set azure.vnet.name to another name"
            )
        location = names.location(vnet.location)
        if location != self.azure.location:
            raise ProviderError(
                f"{self.where} is in {location}, but the cluster is in {self.azure.location}; a vnet serves one location: "
                "set azure.vnet.name (or resourceGroup) for the clusters of the other location"
            )
        have = list(vnet.address_space.address_prefixes or ()) if vnet.address_space else []
        cidrs = names.vnet_cidrs(self.cluster)
        if not same_ranges(have, cidrs):
            raise ProviderError(
                f"{self.where} has the address space {', '.join(have)} but azure.vnet.cidrBlocks asks for {', '.join(cidrs)}; "
                "prepare does not change an existing vnet: set azure.vnet.cidrBlocks back, or give the network another azure.vnet.name"
            )


def _state(resource: Any) -> str:
    """ARM's provisioning state as written in its API ("Succeeded"), not the SDK's enum name."""
    state = resource.provisioning_state
    return str(getattr(state, "value", state) or "")


def _subnet(name: str, cidrs: tuple[str, ...]) -> Any:
    from azure.mgmt.network.models import Subnet

    if len(cidrs) == 1:
        return Subnet(name=name, address_prefix=cidrs[0])
    return Subnet(name=name, address_prefixes=list(cidrs))
