"""Checks of an AWS cluster that need more than one field of the ``aws:``
block (``check_cluster``): every problem is reported, at its path relative to
the cluster entry.

Settings a cluster does not use (``eks:`` on a kubeadm cluster, an AMI on an
EKS one, a ``secretName`` left over when an environment switches the identity
to a role) are not problems: provider blocks merge down from ``defaults:`` and
environments, where one block serves many kinds of cluster.
"""

from __future__ import annotations

import re
import string
from typing import Optional

from dokaseca.errors import Problem
from dokaseca.models import ClusterSpec
from dokaseca.validators import cidrs_overlap

from dokaseca_aws.config import AwsConfig
from dokaseca_aws.manifests import CAPA_VPC_CIDR

# Commercial, GovCloud, China and ISO partitions: 'eu-west-1', 'us-gov-west-1', 'cn-north-1'.
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")
# After the region: a letter ('eu-west-1a'), or a Local / Wavelength Zone ('us-west-2-lax-1a').
_ZONE_SUFFIX = re.compile(r"^([a-z]|-[a-z0-9]+(-[a-z0-9]+)*)$")
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]+$")
_NAME_FORMAT_FIELDS = {"base_os", "kubernetes_version"}


def problems(cluster: ClusterSpec) -> list[Problem]:
    config: AwsConfig = cluster.provider_config
    found: list[Problem] = []
    if cluster.region is not None and not _REGION.match(cluster.region):
        found.append(
            Problem(
                path="region",
                message="is not an AWS region name",
                value=cluster.region,
                hint="write it as 'eu-west-1' (`aws ec2 describe-regions`)",
            )
        )
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
            Problem(
                path="aws.sshPublicKey",
                message="needs aws.sshKeyName",
                value="<public key>",
                hint="name the EC2 key pair prepare imports the key as",
            )
        )
    found += _identity(config)
    found += _zones(cluster, config)
    found += _addon_roles(config)
    found += _ami_lookup(config)
    found += _vpc_overlaps(cluster, config)
    if cluster.flavor == "eks":
        found += _eks(config)
    return found


def _identity(config: AwsConfig) -> list[Problem]:
    identity = config.identity
    found = []
    if identity.kind == "role" and not identity.role_arn:
        found.append(
            Problem(
                path="aws.identity.roleArn",
                message="is required when identity.kind is 'role'",
                hint="the ARN of the role CAPA assumes, e.g. 'arn:aws:iam::123456789012:role/capa-workloads'",
            )
        )
    elif identity.kind == "role" and not _ROLE_ARN.match(identity.role_arn):
        found.append(
            Problem(
                path="aws.identity.roleArn",
                message="is not an IAM role ARN",
                value=identity.role_arn,
                hint="IAM role ARNs look like 'arn:aws:iam::123456789012:role/capa-workloads'",
            )
        )
    return found


def _zones(cluster: ClusterSpec, config: AwsConfig) -> list[Problem]:
    found = []
    zones = config.availability_zones
    for index, zone in enumerate(zones):
        problem = _zone_problem(cluster.region, zone)
        if problem:
            found.append(Problem(path=f"aws.availabilityZones[{index}]", message=problem, value=zone, hint=_zone_hint(cluster.region)))
        elif zone in zones[:index]:
            found.append(
                Problem(path=f"aws.availabilityZones[{index}]", message="repeats an earlier zone", value=zone, hint="list each zone once")
            )
    if cluster.flavor == "eks" and len(set(zones)) == 1:
        found.append(
            Problem(
                path="aws.availabilityZones",
                message="lists one zone; EKS needs subnets in at least two",
                value=list(zones),
                hint="list two or more zones of the region",
            )
        )
    for pool in cluster.workers:
        domain = pool.failure_domain
        if domain is None:
            continue
        path = f"workers.{pool.name}.failureDomain"
        problem = _zone_problem(cluster.region, domain)
        if problem:
            found.append(Problem(path=path, message=problem, value=domain, hint=_zone_hint(cluster.region)))
        elif zones and domain not in zones:
            found.append(
                Problem(
                    path=path,
                    message="is not one of aws.availabilityZones",
                    value=domain,
                    hint=f"use one of {', '.join(zones)}, or add {domain} to aws.availabilityZones",
                )
            )
    return found


def _zone_problem(region: Optional[str], zone: str) -> str:
    if region is None:
        return ""  # the core reports the missing region
    if not zone.startswith(region) or not _ZONE_SUFFIX.match(zone[len(region) :]):
        return f"is not an availability zone of region {region!r}"
    return ""


def _zone_hint(region: Optional[str]) -> str:
    return (
        f"zone names start with the region: '{region}a' (`aws ec2 describe-availability-zones --region {region}`); "
        "zone ids such as 'euw1-az1' are not accepted"
    )


def _addon_roles(config: AwsConfig) -> list[Problem]:
    return [
        Problem(
            path=f"aws.addonRoles.{addon}.policyArns",
            message="is empty: the role would allow nothing",
            hint="list the policies the addon needs, e.g. 'arn:aws:iam::aws:policy/AmazonRoute53FullAccess', or remove the role",
        )
        for addon, role in sorted(config.addon_roles.items())
        if not role.policy_arns
    ]


def _ami_lookup(config: AwsConfig) -> list[Problem]:
    name_format = config.ami_lookup.name_format
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(name_format) if field is not None}
    except ValueError:
        fields = {"<unbalanced braces>"}
    unknown = sorted(fields - _NAME_FORMAT_FIELDS)
    if not unknown:
        return []
    return [
        Problem(
            path="aws.amiLookup.nameFormat",
            message=f"uses {', '.join('{' + f + '}' for f in unknown)}; only {{base_os}} and {{kubernetes_version}} are filled in",
            value=name_format,
            hint="e.g. 'capa-ami-{base_os}-?{kubernetes_version}-*' ('?' and '*' are EC2 name wildcards)",
        )
    ]


def _vpc_overlaps(cluster: ClusterSpec, config: AwsConfig) -> list[Problem]:
    """Pod or service addresses inside the VPC would be unreachable."""
    if config.vpc_id or config.subnet_ids:
        return []  # a VPC of one's own: its block is not known offline
    vpc_cidr = config.network.cidr if config.network.create else CAPA_VPC_CIDR
    ranges = {"network.services": cluster.network.services}
    if cluster.flavor != "eks":  # EKS pods take VPC addresses (the VPC CNI)
        ranges = {"network.pods": cluster.network.pods, **ranges}
    found = []
    for path, blocks in ranges.items():
        for index, block in enumerate(blocks):
            if cidrs_overlap(block, vpc_cidr):
                found.append(
                    Problem(
                        path=path,
                        message=f"entry {index} overlaps the VPC's {vpc_cidr}; those addresses would be unreachable",
                        value=block,
                        hint=f"pick a range outside {vpc_cidr}",
                    )
                )
    return found


def _eks(config: AwsConfig) -> list[Problem]:
    found = []
    seen: set[str] = set()
    for index, addon in enumerate(config.eks.addons):
        if addon.name in seen:
            found.append(
                Problem(
                    path=f"aws.eks.addons[{index}].name",
                    message="repeats an earlier addon",
                    value=addon.name,
                    hint="list each EKS addon once",
                )
            )
        seen.add(addon.name)
        if not addon.version:
            found.append(
                Problem(
                    path=f"aws.eks.addons[{index}].version",
                    message=f"is required for EKS addon {addon.name!r}",
                    hint=f"pick one with `aws eks describe-addon-versions --addon-name {addon.name} --kubernetes-version <major.minor>`",
                )
            )
    return found
