"""The network the clusters of one environment share (``gcp.network.create: true``).

A custom-mode VPC network; the subnets of ``gcp.network.subnets`` with
Private Google Access on (nodes without public addresses still reach Google's
APIs); in each region of those subnets a Cloud Router with a Cloud NAT for
all its subnets (their way out to the internet); and the firewall rules
CAPG does not make for a network it did not make (see :mod:`dokaseca_gcp.firewall`).

GCE networks, subnets and routers carry no labels, so what prepare makes says
so in its description, ``dokaseca.io/network=<name> ...``, given in the call
that makes it; a resource of that name without it was made by someone else
and is never changed. Everything is found again by name, so a second run
changes nothing and a run killed half-way is finished by the next.

Clusters of one environment prepared at once share one look-up: the first
makes or finds the network, the others wait for it.
"""

from __future__ import annotations

from typing import Any, Optional

import attrs

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once

from dokaseca_gcp import firewall
from dokaseca_gcp.config import GcpConfig
from dokaseca_gcp.session import Gcp, last_segment

MARK = "dokaseca.io/network="
NAT_IP_ALLOCATION = "AUTO_ONLY"
NAT_SOURCES = "ALL_SUBNETWORKS_ALL_IP_RANGES"

_networks = Once()


@attrs.frozen(kw_only=True)
class Subnet:
    name: str
    region: str
    cidr: str


@attrs.frozen(kw_only=True)
class Network:
    name: str
    subnets: tuple[Subnet, ...]
    cloud_nat: bool

    def outputs(self, region: str) -> dict[str, Any]:
        outputs: dict[str, Any] = {
            "network": self.name,
            "subnets": [{"name": s.name, "region": s.region, "cidr": s.cidr} for s in self.subnets],
        }
        if self.cloud_nat and region in self.regions():
            outputs.update(router=router_name(self.name, region), nat=router_name(self.name, region))
        return outputs

    def regions(self) -> list[str]:
        return sorted({s.region for s in self.subnets})


def wanted(cluster: ClusterSpec) -> Network:
    """The network the cluster's settings ask for (subnets without a region are in the cluster's)."""
    config: GcpConfig = cluster.provider_config
    spec = config.network
    return Network(
        name=spec.name_for(cluster.fleet, cluster.environment),
        subnets=tuple(Subnet(name=s.name, region=s.region or cluster.region or "", cidr=s.cidr_block) for s in spec.subnets),
        cloud_nat=spec.cloud_nat,
    )


def router_name(network: str, region: str) -> str:
    return f"{network}-{region}"[:63].rstrip("-")


def description(network: str, cluster: ClusterSpec) -> str:
    return f"{MARK}{network} made by dokaseca for fleet {cluster.fleet}, environment {cluster.environment}"


def is_ours(resource: Any, network: str) -> bool:
    return (resource.description or "").split(" ", 1)[0] == f"{MARK}{network}"


def ensure_network(gcp: Gcp, cluster: ClusterSpec, changes: Changes) -> Network:
    """Find or make the environment's network; the first cluster to ask does the work."""
    network = wanted(cluster)
    first = changes.once(_networks, (gcp.project, network.name), lambda mine: _Builder(gcp, cluster, network, mine).build())
    if first != network:
        raise ProviderError(
            f"cluster {cluster.name}: network {network.name!r} is shared with a cluster that asks for other settings "
            f"(gcp.network.subnets or cloudNat differ: {_settings(first)} vs {_settings(network)}); give the clusters of an "
            "environment the same gcp.network (set it on the environment), or set gcp.network.name to keep their networks apart"
        )
    return network


def _settings(network: Network) -> str:
    subnets = ", ".join(f"{s.name} {s.cidr} in {s.region}" for s in network.subnets)
    return f"[{subnets}], cloudNat {network.cloud_nat}"


class _Builder:
    """Every piece is looked up (and a foreign one refused) before the first is made,
    so a fleet value that cannot work stops prepare with nothing made."""

    def __init__(self, gcp: Gcp, cluster: ClusterSpec, network: Network, changes: Changes) -> None:
        self.gcp = gcp
        self.network = network
        self.changes = changes
        self.name = network.name
        self.link = f"projects/{gcp.project}/global/networks/{network.name}"
        self.description = description(network.name, cluster)
        self.where = f"cluster {cluster.name}: network {network.name!r}"
        self.rules = firewall.Rules(gcp, network.name, self.link, [s.cidr for s in network.subnets], self.description, self.where)

    def build(self) -> Network:
        network = self._find_network()
        subnets = [self._find_subnet(index, subnet) for index, subnet in enumerate(self.network.subnets)]
        rules = self.rules.find()
        regions = self.network.regions() if self.network.cloud_nat else []
        routers = [self._find_router(region) for region in regions]

        if network is None:
            self._make_network()
        for subnet, found in zip(self.network.subnets, subnets):
            self._converge_subnet(subnet, found)
        self.rules.converge(rules, self.changes)
        for region, found in zip(regions, routers):
            self._converge_router(region, found)
        return self.network

    # -- look-ups ---------------------------------------------------------------

    def _find_network(self) -> Optional[Any]:
        found = self.gcp.find(self.gcp.compute("networks").get, project=self.gcp.project, network=self.name)
        if found is not None and not is_ours(found, self.name):
            raise ProviderError(
                f"{self.where} exists in project {self.gcp.project} and was not made by dokaseca (its description does not start "
                f"with {MARK}{self.name}); prepare will not take it over. Set gcp.network.create: false to use it as it is, "
                "or give gcp.network.name another name"
            )
        return found

    def _find_subnet(self, index: int, subnet: Subnet) -> Optional[Any]:
        path = f"gcp.network.subnets[{index}]"
        found = self.gcp.find(self.gcp.compute("subnetworks").get, project=self.gcp.project, region=subnet.region, subnetwork=subnet.name)
        if found is None:
            return None
        if last_segment(found.network) != self.name:
            raise ProviderError(
                f"{self.where}: {path} {subnet.name!r} already exists in {subnet.region} in network {last_segment(found.network)!r}; "
                "subnet names are unique in a region of a project: rename it"
            )
        if found.ip_cidr_range != subnet.cidr:
            raise ProviderError(
                f"{self.where}: {path}.cidrBlock is {subnet.cidr} but subnet {subnet.name!r} has {found.ip_cidr_range}; "
                f"prepare does not change a subnet's range: set {path}.cidrBlock to {found.ip_cidr_range}, or give the subnet another name"
            )
        return found

    def _find_router(self, region: str) -> Optional[Any]:
        name = router_name(self.name, region)
        found = self.gcp.find(self.gcp.compute("routers").get, project=self.gcp.project, region=region, router=name)
        if found is not None and (not is_ours(found, self.name) or last_segment(found.network) != self.name):
            raise ProviderError(
                f"{self.where}: a Cloud Router {name!r} in {region} exists and was not made by dokaseca for this network; "
                "delete or rename it, or set gcp.network.cloudNat: false and give the subnets a way out yourself"
            )
        return found

    # -- changes ----------------------------------------------------------------

    def _make_network(self) -> None:
        self.changes.make(
            f"create network {self.name} (custom mode)",
            self.gcp.run,
            what=f"network {self.name}",
            method=self.gcp.compute("networks").insert_unary,
            project=self.gcp.project,
            network_resource={
                "name": self.name,
                "auto_create_subnetworks": False,
                "description": self.description,
                "routing_config": {"routing_mode": "REGIONAL"},
            },
        )

    def _converge_subnet(self, subnet: Subnet, found: Optional[Any]) -> None:
        subnetworks = self.gcp.compute("subnetworks")
        if found is None:
            self.changes.make(
                f"create subnet {subnet.name} {subnet.cidr} in {subnet.region}",
                self.gcp.run,
                what=f"subnet {subnet.name}",
                method=subnetworks.insert_unary,
                project=self.gcp.project,
                region=subnet.region,
                subnetwork_resource={
                    "name": subnet.name,
                    "network": self.link,
                    "ip_cidr_range": subnet.cidr,
                    "private_ip_google_access": True,
                    "description": self.description,
                },
            )
        elif is_ours(found, self.name) and not found.private_ip_google_access:
            self.changes.make(
                f"turn on Private Google Access in subnet {subnet.name}",
                self.gcp.run,
                what=f"subnet {subnet.name}",
                method=subnetworks.set_private_ip_google_access_unary,
                project=self.gcp.project,
                region=subnet.region,
                subnetwork=subnet.name,
                subnetworks_set_private_ip_google_access_request_resource={"private_ip_google_access": True},
            )

    def _converge_router(self, region: str, found: Optional[Any]) -> None:
        routers = self.gcp.compute("routers")
        name = router_name(self.name, region)
        nat = {"name": name, "nat_ip_allocate_option": NAT_IP_ALLOCATION, "source_subnetwork_ip_ranges_to_nat": NAT_SOURCES}
        if found is None:
            self.changes.make(
                f"create Cloud Router {name} with Cloud NAT {name}",
                self.gcp.run,
                what=f"Cloud Router {name}",
                method=routers.insert_unary,
                project=self.gcp.project,
                region=region,
                router_resource={"name": name, "network": self.link, "description": self.description, "nats": [nat]},
            )
        elif not any(existing.name == name for existing in found.nats):
            self.changes.make(
                f"add Cloud NAT {name} to Cloud Router {name}",
                self.gcp.run,
                what=f"Cloud NAT {name}",
                method=routers.patch_unary,
                project=self.gcp.project,
                region=region,
                router=name,
                # A patch replaces the list: the router's other NATs go back in as they are.
                router_resource={"nats": [type(existing).to_dict(existing) for existing in found.nats] + [nat]},
            )


def check_own_network(gcp: Gcp, cluster: ClusterSpec) -> dict[str, Any]:
    """A network the fleet brings (``create: false``), checked with read calls only.

    CAPG makes a missing network or subnet itself, except in a Shared VPC: there
    they must exist in the host project. One that exists must match the fleet
    file, so a wrong range is named now instead of by CAPG's controller later.
    """
    config: GcpConfig = cluster.provider_config
    spec = config.network
    project = spec.host_project or gcp.project
    where = f"cluster {cluster.name}"
    found = gcp.find(gcp.compute("networks").get, project=project, network=spec.name)
    if found is None:
        if spec.host_project:
            raise ProviderError(
                f"{where}: gcp.network.name {spec.name!r} is not a network in the Shared VPC host project {project} "
                "(gcp.network.hostProject); check both, and that the credentials may read the host project"
            )
        return {}
    subnets = []
    for index, subnet in enumerate(spec.subnets):
        region = subnet.region or cluster.region or ""
        path = f"gcp.network.subnets[{index}]"
        got = gcp.find(gcp.compute("subnetworks").get, project=project, region=region, subnetwork=subnet.name)
        if got is None:
            if spec.host_project:
                raise ProviderError(f"{where}: {path} {subnet.name!r} is not a subnet in {region} of host project {project}")
            continue
        if last_segment(got.network) != spec.name:
            raise ProviderError(
                f"{where}: {path} {subnet.name!r} in {region} belongs to network {last_segment(got.network)!r}, "
                f"not {spec.name!r} (gcp.network.name)"
            )
        if got.ip_cidr_range != subnet.cidr_block:
            raise ProviderError(
                f"{where}: {path}.cidrBlock is {subnet.cidr_block} but subnet {subnet.name!r} in {region} has {got.ip_cidr_range}; "
                f"set it to {got.ip_cidr_range}"
            )
        subnets.append({"name": subnet.name, "region": region, "cidr": got.ip_cidr_range})
    return {"network": spec.name, "subnets": subnets}
