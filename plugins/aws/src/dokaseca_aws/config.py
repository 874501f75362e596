"""The ``aws:`` block of a cluster (or of ``defaults:`` / an environment)."""

import ipaddress
from typing import Any, Optional

import attrs

from dokaseca.validators import InvalidValue, addon_names, one_of, ssh_public_key_problem

# The names `clusterawsadm bootstrap iam` gives the instance profiles, so a
# fleet works in an account that was bootstrapped by clusterawsadm too.
CAPA_CONTROL_PLANE_PROFILE = "control-plane.cluster-api-provider-aws.sigs.k8s.io"
CAPA_NODES_PROFILE = "nodes.cluster-api-provider-aws.sigs.k8s.io"

# CAPA's own AMI lookup defaults (a CNCF-owned account publishes the images).
CAPA_AMI_OWNER = "819546954734"
CAPA_AMI_NAME_FORMAT = "capa-ami-{base_os}-?{kubernetes_version}-*"



def _ami_id(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not (value.startswith("ami-") and len(value) > 4):
        raise InvalidValue("is not an AMI id", value, "AMI ids look like 'ami-0123456789abcdef0'; omit it to look one up")


def _vpc_id(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not value.startswith("vpc-"):
        raise InvalidValue("is not a VPC id", value, "VPC ids look like 'vpc-0123456789abcdef0'")


def _subnet_ids(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for index, subnet in enumerate(value):
        if not subnet.startswith("subnet-"):
            raise InvalidValue(f"entry {index} is not a subnet id", subnet, "subnet ids look like 'subnet-0123456789abcdef0'")


def _vpc_cidr(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise InvalidValue("is not a CIDR block", value, "write a network address with a prefix length, e.g. '10.0.0.0/16'") from None
    if network.version != 4 or not 16 <= network.prefixlen <= 24:
        raise InvalidValue("cannot be a VPC's primary block", value, "AWS takes an IPv4 block between /16 and /24")


def _public_key(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    problem = value and ssh_public_key_problem(value)
    if problem:
        raise problem


def _arns(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for index, arn in enumerate(value):
        if not arn.startswith("arn:aws") or ":policy/" not in arn:
            raise InvalidValue(f"entry {index} is not an IAM policy ARN", arn, "write 'arn:aws:iam::aws:policy/<Name>' or your own policy's ARN")


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
class AmiLookup:
    """How ``prepare`` finds an AMI when ``amiId`` is not given (CAPA's scheme).

    ``nameFormat`` takes ``{base_os}`` and ``{kubernetes_version}`` (without
    its leading ``v``, as CAPA fills it: ``-?1.33.1-`` matches ``-v1.33.1-``);
    ``?`` and ``*`` are EC2 name-filter wildcards.
    """

    owner: str = CAPA_AMI_OWNER
    base_os: str = attrs.field(default="ubuntu-24.04", metadata={"key": "baseOS"})
    name_format: str = CAPA_AMI_NAME_FORMAT
    architecture: str = attrs.field(default="x86_64", validator=one_of("x86_64", "arm64"))


@attrs.frozen(kw_only=True)
class AwsNetwork:
    """A VPC shared by the clusters of one environment, made by ``prepare``.

    With ``create: true`` every cluster of the environment (in the same
    account and region) uses one VPC with a public and a private subnet per
    availability zone, found again by its ``dokaseca.io/network`` tag.
    """

    create: bool = False
    name: Optional[str] = None  # default: "<fleet>-<environment>"
    cidr: str = attrs.field(default="10.0.0.0/16", validator=_vpc_cidr)
    availability_zone_count: int = attrs.field(default=3, validator=[attrs.validators.ge(1), attrs.validators.le(6)])
    nat_gateways: str = attrs.field(default="single", validator=one_of("single", "per-zone", "none"))


@attrs.frozen(kw_only=True)
class AddonRole:
    """An IAM role ``prepare`` makes for one addon, handed to GitOps as
    ``<addon>_iam_role_arn`` / ``_namespace`` / ``_service_account``."""

    policy_arns: tuple[str, ...] = attrs.field(default=(), validator=_arns)
    namespace: str = "kube-system"
    service_account: str = ""  # default: the addon name with '_' as '-'


@attrs.frozen(kw_only=True)
class EksAddon:
    name: str
    version: Optional[str] = None
    configuration: Optional[str] = None  # JSON, as `aws eks create-addon --configuration-values`


@attrs.frozen(kw_only=True)
class EksSettings:
    """EKS flavor settings; the Kubernetes version is the cluster's."""

    addons: tuple[EksAddon, ...] = ()
    logging: tuple[str, ...] = attrs.field(
        default=(), validator=attrs.validators.deep_iterable(one_of("apiServer", "audit", "authenticator", "controllerManager", "scheduler"))
    )


@attrs.frozen(kw_only=True)
class AwsConfig:
    # A named profile of ~/.aws/config for prepare (one account per environment,
    # say); default: boto3's standard chain (AWS_PROFILE, env keys, SSO, roles).
    profile: Optional[str] = None
    ssh_key_name: Optional[str] = None
    ssh_public_key: Optional[str] = attrs.field(default=None, validator=_public_key)
    ami_id: Optional[str] = attrs.field(default=None, validator=_ami_id)
    ami_lookup: AmiLookup = AmiLookup()
    instance_type: str = "t3.large"
    control_plane_instance_type: Optional[str] = None
    root_volume_size: Optional[int] = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.ge(8)))
    availability_zones: tuple[str, ...] = ()
    vpc_id: Optional[str] = attrs.field(default=None, validator=_vpc_id)
    subnet_ids: tuple[str, ...] = attrs.field(default=(), validator=_subnet_ids)
    network: AwsNetwork = AwsNetwork()
    api_endpoint: str = attrs.field(default="public", validator=one_of("public", "private"))
    additional_tags: dict[str, str] = attrs.field(factory=dict)
    identity: AwsIdentity = AwsIdentity()
    bootstrap_iam: bool = attrs.field(default=True, metadata={"key": "bootstrapIAM"})
    control_plane_instance_profile: str = CAPA_CONTROL_PLANE_PROFILE
    nodes_instance_profile: str = CAPA_NODES_PROFILE
    addon_roles: dict[str, AddonRole] = attrs.field(factory=dict, validator=addon_names)
    eks: EksSettings = EksSettings()
