"""Checks of an AWS cluster that need more than one field of the ``aws:``
block (``check_cluster``): every problem is reported, at its path relative to
the cluster entry."""

from __future__ import annotations

import re

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec

from dokaseca_aws.config import AwsConfig

# Commercial, GovCloud, China and ISO partitions: 'eu-west-1', 'us-gov-west-1', 'cn-north-1'.
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")


def problems(cluster: ClusterSpec) -> list[Problem]:
    config: AwsConfig = cluster.provider_config
    found: list[Problem] = []
    if cluster.region is not None and not _REGION.match(cluster.region):
        found.append(Problem(path="region", message="is not an AWS region name", value=cluster.region, hint="write it as 'eu-west-1' (`aws ec2 describe-regions`)"))
    if config.network.create and (config.vpc_id or config.subnet_ids):
        found.append(
            Problem(
                path="aws.network.create",
                message="conflicts with aws.vpcId / aws.subnetIds",
                value=True,
                hint="either let prepare make the environment's network (network.create: true) or bring your own VPC and subnets, not both",
            )
        )
    if config.ssh_public_key and not config.ssh_key_name:
        found.append(
            Problem(path="aws.sshPublicKey", message="needs aws.sshKeyName", value="<public key>", hint="name the EC2 key pair prepare imports the key as")
        )
    return found
