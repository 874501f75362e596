"""The ``aws:`` block of a cluster (or of ``defaults:`` / an environment)."""

from typing import Optional

import attrs

from dokaseca.validators import InvalidValue, one_of

CAPA_CONTROL_PLANE_PROFILE = "control-plane.cluster-api-provider-aws.sigs.k8s.io"
CAPA_NODES_PROFILE = "nodes.cluster-api-provider-aws.sigs.k8s.io"


def _ami_id(instance, attribute, value):
    if value is not None and not (value.startswith("ami-") and len(value) > 4):
        raise InvalidValue("is not an AMI id", value, "AMI ids look like 'ami-0123456789abcdef0'; omit it to let CAPA look one up")


def _vpc_id(instance, attribute, value):
    if value is not None and not value.startswith("vpc-"):
        raise InvalidValue("is not a VPC id", value, "VPC ids look like 'vpc-0123456789abcdef0'")


def _subnet_ids(instance, attribute, value):
    for index, subnet in enumerate(value):
        if not subnet.startswith("subnet-"):
            raise InvalidValue(f"entry {index} is not a subnet id", subnet, "subnet ids look like 'subnet-0123456789abcdef0'")


@attrs.frozen(kw_only=True)
class AwsIdentity:
    """Which credentials CAPA's controller uses for this cluster.

    ``controller`` (the default) uses the controller's own credentials;
    ``static`` references an AWSClusterStaticIdentity whose Secret (in the
    CAPA namespace) holds the keys; ``role`` an AWSClusterRoleIdentity.
    """

    kind: str = attrs.field(default="controller", validator=one_of("controller", "static", "role"))
    name: str = "default"
    secret_name: Optional[str] = None
    role_arn: Optional[str] = None


@attrs.frozen(kw_only=True)
class AwsConfig:
    ssh_key_name: Optional[str] = None
    ami_id: Optional[str] = attrs.field(default=None, validator=_ami_id)
    instance_type: str = "t3.large"
    control_plane_instance_type: Optional[str] = None
    root_volume_size: Optional[int] = None
    availability_zones: tuple[str, ...] = ()
    vpc_id: Optional[str] = attrs.field(default=None, validator=_vpc_id)
    subnet_ids: tuple[str, ...] = attrs.field(default=(), validator=_subnet_ids)
    api_endpoint: str = attrs.field(default="public", validator=one_of("public", "private"))
    additional_tags: dict[str, str] = attrs.field(factory=dict)
    identity: AwsIdentity = AwsIdentity()
    control_plane_instance_profile: str = CAPA_CONTROL_PLANE_PROFILE
    nodes_instance_profile: str = CAPA_NODES_PROFILE
