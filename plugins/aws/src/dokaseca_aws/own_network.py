"""A network the fleet brings (``aws.vpcId`` / ``aws.subnetIds``), checked with
read calls only, so a wrong id is named at ``prepare`` instead of by CAPA's
controller, later and in its logs."""

from __future__ import annotations

from typing import Any, Optional

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec

from dokaseca_aws.config import AwsConfig
from dokaseca_aws.session import Aws, absent


def check_own_network(aws: Aws, cluster: ClusterSpec) -> Optional[dict[str, Any]]:
    """The outputs render uses (zones of the given subnets), or None when the fleet brings no network."""
    config: AwsConfig = cluster.provider_config
    if not (config.vpc_id or config.subnet_ids):
        return None
    ec2 = aws.client("ec2")
    where = f"cluster {cluster.name}"
    if config.vpc_id and absent(ec2.describe_vpcs, ("InvalidVpcID.NotFound",), VpcIds=[config.vpc_id]) is None:
        raise ProviderError(f"{where}: aws.vpcId {config.vpc_id!r} is not a VPC in {aws.region} of account {aws.account_id}; check the id, the region and the account")
    if not config.subnet_ids:
        return {"vpc_id": config.vpc_id}
    found = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": list(config.subnet_ids)}])["Subnets"]}
    for index, subnet_id in enumerate(config.subnet_ids):
        subnet = found.get(subnet_id)
        if subnet is None:
            raise ProviderError(f"{where}: aws.subnetIds[{index}] {subnet_id!r} is not a subnet in {aws.region} of account {aws.account_id}")
        if config.vpc_id and subnet["VpcId"] != config.vpc_id:
            raise ProviderError(
                f"{where}: aws.subnetIds[{index}] {subnet_id!r} is in {subnet['VpcId']}, not in aws.vpcId {config.vpc_id!r}; "
                "CAPA needs every subnet in the cluster's VPC"
            )
    vpcs = {s["VpcId"] for s in found.values()}
    if len(vpcs) > 1:
        raise ProviderError(f"{where}: aws.subnetIds are in several VPCs ({', '.join(sorted(vpcs))}); CAPA needs them in one")
    return {"vpc_id": config.vpc_id or vpcs.pop(), "subnet_ids": list(config.subnet_ids)}
