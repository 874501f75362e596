"""``prepare`` for AWS: what a cluster needs before CAPA can build it.

In order: the account behind the credentials, for self-managed clusters the
AMI, a VPC and subnets the fleet brings (checked, never changed), the EC2 key
pair, CAPA's IAM roles (once per account), the cluster's addon
roles and its environment's network: what can fail on the fleet's values alone
comes before anything is made. Each piece is looked up
before anything is made, so a second run changes nothing and a run killed
half-way is finished by the next one. With ``dry_run`` only Describe, Get and
List calls are made and the changes are listed instead.

boto3 is loaded by :mod:`dokaseca_aws.session` on the first call, never at import.
"""

from __future__ import annotations

from typing import Any

from dokaseca import once
from dokaseca.changes import Changes
from dokaseca.models import ClusterSpec, InfraResult

from dokaseca_aws import iam
from dokaseca_aws.ami import find_ami
from dokaseca_aws.keypair import ensure_key_pair
from dokaseca_aws.network import ensure_network
from dokaseca_aws.own_network import check_own_network
from dokaseca_aws.session import aws_errors, connect


def prepare(cluster: ClusterSpec, *, dry_run: bool) -> InfraResult:
    changes = Changes(dry_run=dry_run)
    outputs: dict[str, Any] = {}
    with aws_errors(cluster):
        aws = connect(cluster)
        outputs.update(account_id=aws.account_id, region=aws.region)
        # What can fail on the fleet's values alone (no image, another key under
        # that name) is found before anything is made.
        if not cluster.managed:  # EKS node groups bring their own images
            outputs["ami_id"] = find_ami(aws, cluster)
        outputs.update(check_own_network(aws, cluster) or {})
        key_name = ensure_key_pair(aws, cluster, changes)
        if key_name:
            outputs["ssh_key_name"] = key_name
        outputs["role_arns"] = iam.bootstrap(aws, cluster, changes)
        addon_roles = iam.addon_roles(aws, cluster, outputs["role_arns"]["nodes"], changes)
        if addon_roles:
            outputs["addon_roles"] = addon_roles
        network = ensure_network(aws, cluster, changes)
        if network is not None:
            outputs.update(network.outputs())
    return InfraResult(outputs=outputs, actions=tuple(changes.lines))


def forget() -> None:
    """Drop the sessions and everything looked up, so the next prepare asks AWS
    afresh. A ``dokaseca prepare`` run is one process and never needs it; a
    long-lived program (or a test) that changes credentials or resources in
    between does."""
    once.forget_all()
