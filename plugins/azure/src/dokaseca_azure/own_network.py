"""A vnet the fleet brings (``azure.vnet.name`` without ``network.create``),
checked with read calls only, so a wrong name or range is named at ``prepare``
instead of by CAPZ's controller, later and in its logs. A vnet that does not
exist yet is CAPZ's to make; one that exists must be in the cluster's
location and hold the subnets the cluster uses."""

from __future__ import annotations

from typing import Any, Optional

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec

from dokaseca_azure import names
from dokaseca_azure.config import AzureConfig
from dokaseca_azure.network import SUBNET_FIELDS, prefixes_of, same_ranges, subnet_outputs, used_subnets
from dokaseca_azure.session import Azure, absent


def check_own_network(azure: Azure, cluster: ClusterSpec) -> Optional[dict[str, Any]]:
    """The outputs render uses (vnet, its group, the subnets), or None when there is nothing to check."""
    config: AzureConfig = cluster.provider_config
    if config.network.create or not config.vnet.name:
        return None
    group, name = names.vnet(cluster)
    vnet = absent(azure.client("network").virtual_networks.get, resource_group_name=group, virtual_network_name=name)
    if vnet is None:
        return None
    where = f"cluster {cluster.name}: azure.vnet {name!r} in resource group {group!r}"
    location = names.location(vnet.location)
    if location != azure.location:
        raise ProviderError(
            f"{where} is in {location}, not in the cluster's location {azure.location}; machines can only join a vnet of their own location"
        )
    found = {s.name.lower(): s for s in vnet.subnets or ()}
    wanted = used_subnets(cluster)
    for role, (subnet_name, cidrs) in wanted.items():
        field = SUBNET_FIELDS[role]
        subnet = found.get(subnet_name.lower())
        if subnet is None:
            listed = ", ".join(sorted(s.name for s in vnet.subnets or ())) or "none"
            raise ProviderError(
                f"{where} has no subnet {subnet_name!r} ({field}.name; its subnets: {listed}); "
                "CAPZ needs the subnets of a vnet it did not make: create it, or name one of those"
            )
        configured = config.subnets.subnet(role).cidr_blocks
        if configured and not same_ranges(prefixes_of(subnet), configured):
            raise ProviderError(
                f"{where}: subnet {subnet_name!r} has {', '.join(prefixes_of(subnet))} but {field}.cidrBlocks says {', '.join(configured)}; "
                "set the field to the subnet's range, or leave it out"
            )
    return {"vnet_name": name, "vnet_resource_group": group, "subnets": subnet_outputs(azure, group, name, found, wanted)}
