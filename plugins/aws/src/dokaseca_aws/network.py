"""The network the clusters of one environment share (``aws.network.create: true``).

A VPC with DNS hostnames on; in each availability zone a public and a private
subnet; an internet gateway; NAT gateways (one, one per zone, or none) with
Elastic IPs; a public route table and one private route table per zone.
Everything carries ``dokaseca.io/network: <name>`` from the call that makes
it (never made, then tagged: a crash in between would leave something no
re-run can find), and is found again by that tag. Subnets are tagged the way
CAPA and the AWS cloud provider read a network they did not make.

Clusters of one environment prepared at once share one look-up: the first
makes or finds the network, the others wait for it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any, Optional

import attrs

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once

from dokaseca_aws.config import AwsConfig
from dokaseca_aws.session import Aws
from dokaseca_aws.tags import OWNER, OWNER_KEY, key_values
from dokaseca_aws.tags import tag as _tag

NETWORK_TAG = "dokaseca.io/network"
ZONE_TAG = "dokaseca.io/zone"
ROLE_TAG = "sigs.k8s.io/cluster-api-provider-aws/role"
LOAD_BALANCER_TAG = {"public": "kubernetes.io/role/elb", "private": "kubernetes.io/role/internal-elb"}
ANYWHERE = "0.0.0.0/0"
# The VPC block is cut in 16: public subnets take the first 8 blocks, private
# subnets the last 8, so a zone added later still finds a free block.
SUBNET_BITS = 4
ROLES = ("public", "private")
LIVE_NAT_STATES = ("pending", "available")
NAT_WAIT = {"Delay": 10, "MaxAttempts": 60}

_networks = Once()


@attrs.frozen(kw_only=True)
class Subnet:
    id: Optional[str]  # None in a dry run, before it exists
    zone: str
    public: bool


@attrs.frozen(kw_only=True)
class Network:
    name: str
    vpc_id: Optional[str]
    subnets: tuple[Subnet, ...]

    def outputs(self) -> dict[str, Any]:
        if self.vpc_id is None:
            return {}
        subnets = sorted((s for s in self.subnets if s.id), key=lambda s: (s.zone, s.public))
        return {
            "vpc_id": self.vpc_id,
            "subnet_ids": [s.id for s in subnets],
            "subnets": [{"id": s.id, "availability_zone": s.zone, "public": s.public} for s in subnets],
        }


def network_name(cluster: ClusterSpec) -> str:
    return cluster.provider_config.network.name or f"{cluster.fleet}-{cluster.environment}"


def ensure_network(aws: Aws, cluster: ClusterSpec, changes: Changes) -> Optional[Network]:
    config: AwsConfig = cluster.provider_config
    if not config.network.create:
        return None
    name = network_name(cluster)
    wanted = (config.network.cidr, config.network.availability_zone_count, config.network.nat_gateways, config.availability_zones)
    first, network = changes.once(
        _networks, (aws.account_id, aws.region, name), lambda mine: (wanted, _Builder(aws, cluster, name, mine).build())
    )
    if first != wanted:
        raise ProviderError(
            f"cluster {cluster.name}: network {name!r} is shared with a cluster that asks for other settings "
            f"(aws.network or aws.availabilityZones differ: {first} vs {wanted}); give the clusters of an environment "
            "the same settings, or set aws.network.name to keep their networks apart"
        )
    return network


class _Builder:
    def __init__(self, aws: Aws, cluster: ClusterSpec, name: str, changes: Changes) -> None:
        config: AwsConfig = cluster.provider_config
        self.aws = aws
        self.ec2 = aws.client("ec2")
        self.name = name
        self.changes = changes
        self.spec = config.network
        self.zones_given = config.availability_zones
        self.where = f"cluster {cluster.name}: network {name!r}"
        self.labels = {
            NETWORK_TAG: name,
            "dokaseca.io/fleet": cluster.fleet,
            "dokaseca.io/environment": cluster.environment,
            OWNER_KEY: OWNER,
        }
        self.by_tag = [{"Name": f"tag:{NETWORK_TAG}", "Values": [name]}]
        self.fresh = False  # a dry run with no VPC yet: nothing to look up

    def build(self) -> Network:
        zones = self._zones()
        vpc_id = self._vpc()
        self.fresh = vpc_id is None
        subnets = self._subnets(vpc_id, zones)
        gateway = self._internet_gateway(vpc_id)
        tables = self._list("describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        self.associations = {
            a["SubnetId"]: (t["RouteTableId"], a["RouteTableAssociationId"])
            for t in tables
            for a in t.get("Associations") or ()
            if a.get("SubnetId")
        }
        ours = {
            (_tag(t, ROLE_TAG), _tag(t, ZONE_TAG)): t
            for t in sorted(tables, key=lambda t: t["RouteTableId"], reverse=True)
            if _tag(t, NETWORK_TAG) == self.name
        }

        public = self._route_table(vpc_id, ours, "public", None)
        self._default_route(public, "GatewayId", gateway, "the internet gateway")
        for zone in zones:
            self._associate(public, subnets[zone, "public"], f"{self.name}-public-{zone}")

        nats = self._nat_gateways(vpc_id, zones, subnets)
        for zone in zones:
            private = self._route_table(vpc_id, ours, "private", zone)
            if nats:  # natGateways: none leaves the private subnets without a way out
                nat_zone = zone if self.spec.nat_gateways == "per-zone" else zones[0]
                self._default_route(private, "NatGatewayId", nats[nat_zone], f"NAT gateway {self.name}-{nat_zone}")
            self._associate(private, subnets[zone, "private"], f"{self.name}-private-{zone}")

        return Network(
            name=self.name,
            vpc_id=vpc_id,
            subnets=tuple(Subnet(id=subnets[zone, role], zone=zone, public=role == "public") for zone in zones for role in ROLES),
        )

    # -- look-ups ---------------------------------------------------------

    def _list(self, operation: str, key: str, **arguments: Any) -> list[dict[str, Any]]:
        if self.fresh:
            return []
        if self.ec2.can_paginate(operation):
            return [item for page in self.ec2.get_paginator(operation).paginate(**arguments) for item in page[key]]
        return getattr(self.ec2, operation)(**arguments)[key]

    def _ours(self, operation: str, key: str, **arguments: Any) -> list[dict[str, Any]]:
        """Those carrying our network's tag. Checked here too: a filter the
        server does not apply must not hand us another network's gateway."""
        return [item for item in self._list(operation, key, **arguments) if _tag(item, NETWORK_TAG) == self.name]

    def _tags(self, resource_type: str, name: str, extra: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
        tags = {"Name": name, **self.labels, **(extra or {})}
        return [{"ResourceType": resource_type, "Tags": key_values(tags)}]

    def _zones(self) -> list[str]:
        if self.zones_given:
            return list(self.zones_given)
        answer = self.ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])
        # Local and Wavelength zones are opt-in extras, not places for a cluster's subnets.
        zones = sorted(z["ZoneName"] for z in answer["AvailabilityZones"] if z.get("ZoneType", "availability-zone") == "availability-zone")
        count = self.spec.availability_zone_count
        if len(zones) < count:
            raise ProviderError(
                f"{self.where}: {self.aws.region} has {len(zones)} available availability zones ({', '.join(zones)}), "
                f"aws.network.availabilityZoneCount asks for {count}; lower it or list aws.availabilityZones"
            )
        return zones[:count]

    # -- the pieces, each found by its tag or made with it -----------------

    def _vpc(self) -> Optional[str]:
        vpcs = self._ours("describe_vpcs", "Vpcs", Filters=self.by_tag)
        if len(vpcs) > 1:
            raise ProviderError(
                f"{self.where}: {len(vpcs)} VPCs carry {NETWORK_TAG}={self.name} ({', '.join(sorted(v['VpcId'] for v in vpcs))}); "
                "keep the one the clusters use and delete the others, or remove the tag from them"
            )
        if vpcs:
            vpc_id = vpcs[0]["VpcId"]
            if vpcs[0]["CidrBlock"] != self.spec.cidr:
                raise ProviderError(
                    f"{self.where}: VPC {vpc_id} has the block {vpcs[0]['CidrBlock']} but aws.network.cidr is {self.spec.cidr}; "
                    "a VPC's primary block cannot change: set aws.network.cidr back, or give the network another aws.network.name"
                )
            hostnames = self.ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
        else:
            made = self.changes.make(
                f"create VPC {self.spec.cidr} {self.name}",
                self.ec2.create_vpc,
                CidrBlock=self.spec.cidr,
                TagSpecifications=self._tags("vpc", self.name),
            )
            vpc_id, hostnames = (made["Vpc"]["VpcId"] if made else None), False
        if not hostnames:
            self.changes.make(
                f"turn on DNS hostnames in VPC {self.name}", self.ec2.modify_vpc_attribute, VpcId=vpc_id, EnableDnsHostnames={"Value": True}
            )
        return vpc_id

    def _subnets(self, vpc_id: Optional[str], zones: list[str]) -> dict[tuple[str, str], Optional[str]]:
        present = self._list("describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        ours: dict[tuple[str, str], str] = {}
        # Should a duplicate exist, the lowest id wins (written last), so every run picks the same one.
        for subnet in sorted(present, key=lambda s: s["SubnetId"], reverse=True):
            if _tag(subnet, NETWORK_TAG) == self.name:
                ours[subnet["AvailabilityZone"], _tag(subnet, ROLE_TAG) or ""] = subnet["SubnetId"]
        taken = [ipaddress.ip_network(s["CidrBlock"]) for s in present]
        blocks = list(ipaddress.ip_network(self.spec.cidr).subnets(prefixlen_diff=SUBNET_BITS))
        half = len(blocks) // 2
        found: dict[tuple[str, str], Optional[str]] = {}
        for role in ROLES:
            for zone in zones:
                if (zone, role) in ours:
                    found[zone, role] = ours[zone, role]
                    continue
                candidates = blocks[:half] if role == "public" else blocks[half:]
                block = next((b for b in candidates if not any(b.overlaps(t) for t in taken)), None)
                if block is None:
                    raise ProviderError(
                        f"{self.where}: no free /{blocks[0].prefixlen} block left in {self.spec.cidr} for a {role} subnet in {zone}"
                    )
                taken.append(block)
                name = f"{self.name}-{role}-{zone}"
                made = self.changes.make(
                    f"create subnet {block} {name}",
                    self.ec2.create_subnet,
                    VpcId=vpc_id,
                    CidrBlock=str(block),
                    AvailabilityZone=zone,
                    TagSpecifications=self._tags("subnet", name, {ROLE_TAG: role, LOAD_BALANCER_TAG[role]: "1"}),
                )
                found[zone, role] = made["Subnet"]["SubnetId"] if made else None
        return found

    def _internet_gateway(self, vpc_id: Optional[str]) -> Optional[str]:
        gateways = sorted(
            self._ours("describe_internet_gateways", "InternetGateways", Filters=self.by_tag), key=lambda g: g["InternetGatewayId"]
        )
        if gateways:
            gateway_id = gateways[0]["InternetGatewayId"]
            attached = any(a.get("VpcId") == vpc_id for a in gateways[0].get("Attachments") or ())
        else:
            made = self.changes.make(
                f"create internet gateway {self.name}",
                self.ec2.create_internet_gateway,
                TagSpecifications=self._tags("internet-gateway", self.name),
            )
            gateway_id, attached = (made["InternetGateway"]["InternetGatewayId"] if made else None), False
        if not attached:
            self.changes.make(
                f"attach internet gateway {self.name} to VPC {self.name}",
                self.ec2.attach_internet_gateway,
                InternetGatewayId=gateway_id,
                VpcId=vpc_id,
            )
        return gateway_id

    def _route_table(self, vpc_id: Optional[str], ours: dict, role: str, zone: Optional[str]) -> dict[str, Any]:
        name = f"{self.name}-{role}" + (f"-{zone}" if zone else "")
        table = ours.get((role, zone))
        if table is not None:
            return {"id": table["RouteTableId"], "name": name, "routes": table.get("Routes") or []}
        extra = {ROLE_TAG: role, **({ZONE_TAG: zone} if zone else {})}
        made = self.changes.make(
            f"create route table {name}",
            self.ec2.create_route_table,
            VpcId=vpc_id,
            TagSpecifications=self._tags("route-table", name, extra),
        )
        return {"id": made["RouteTable"]["RouteTableId"] if made else None, "name": name, "routes": []}

    def _default_route(self, table: dict[str, Any], target_key: str, target_id: Optional[str], target: str) -> None:
        current = next((r for r in table["routes"] if r.get("DestinationCidrBlock") == ANYWHERE), None)
        if current is not None and target_id is not None and current.get(target_key) == target_id:
            return
        verb, call = ("replace", self.ec2.replace_route) if current is not None else ("add", self.ec2.create_route)
        self.changes.make(
            f"{verb} the default route of route table {table['name']}: via {target}",
            call,
            RouteTableId=table["id"],
            DestinationCidrBlock=ANYWHERE,
            **{target_key: target_id},
        )

    def _associate(self, table: dict[str, Any], subnet_id: Optional[str], subnet: str) -> None:
        current = self.associations.get(subnet_id) if subnet_id else None
        if current is not None and table["id"] is not None and current[0] == table["id"]:
            return
        if current is not None:
            self.changes.make(
                f"move subnet {subnet} to route table {table['name']}",
                self.ec2.replace_route_table_association,
                AssociationId=current[1],
                RouteTableId=table["id"],
            )
        else:
            self.changes.make(
                f"associate subnet {subnet} with route table {table['name']}",
                self.ec2.associate_route_table,
                RouteTableId=table["id"],
                SubnetId=subnet_id,
            )

    def _nat_gateways(self, vpc_id: Optional[str], zones: list[str], subnets: dict) -> dict[str, Optional[str]]:
        mode = self.spec.nat_gateways
        if mode == "none":
            return {}
        addresses = self._ours("describe_addresses", "Addresses", Filters=self.by_tag)
        gateways = self._ours("describe_nat_gateways", "NatGateways", Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])
        found: dict[str, Optional[str]] = {}
        pending = []
        for zone in zones[:1] if mode == "single" else zones:
            name = f"{self.name}-{zone}"
            address = min((a for a in addresses if _tag(a, ZONE_TAG) == zone), key=lambda a: a["AllocationId"], default=None)
            if address is not None:
                allocation = address["AllocationId"]
            else:
                made = self.changes.make(
                    f"allocate Elastic IP {name}",
                    self.ec2.allocate_address,
                    Domain="vpc",
                    TagSpecifications=self._tags("elastic-ip", name, {ZONE_TAG: zone}),
                )
                allocation = made["AllocationId"] if made else None
            in_zone = [g for g in gateways if _tag(g, ZONE_TAG) == zone]
            live = sorted((g for g in in_zone if g["State"] in LIVE_NAT_STATES), key=lambda g: g["NatGatewayId"])
            if live:
                found[zone] = live[0]["NatGatewayId"]
                if live[0]["State"] == "pending":
                    pending.append(found[zone])
                continue
            subnet = subnets[zone, "public"]
            # The same request after a crash gets the same NAT gateway back, even before
            # a look-up by tag can see it; a gateway deleted since counts, so a
            # deliberate re-creation gets a new token.
            token = hashlib.sha256(f"{vpc_id}/{subnet}/{allocation}/{len(in_zone)}".encode()).hexdigest()[:32]
            made = self.changes.make(
                f"create NAT gateway {name}",
                self.ec2.create_nat_gateway,
                SubnetId=subnet,
                AllocationId=allocation,
                ClientToken=token,
                TagSpecifications=self._tags("natgateway", name, {ZONE_TAG: zone}),
            )
            found[zone] = made["NatGateway"]["NatGatewayId"] if made else None
            if made:
                pending.append(found[zone])
        if pending and not self.changes.dry_run:
            # A route to a NAT gateway that is not available yet would not carry traffic.
            self.ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=pending, WaiterConfig=NAT_WAIT)
        return found
