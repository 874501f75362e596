"""The ``gcp:`` block of a cluster (or of ``defaults:`` / an environment).

Names follow CAPG's GCPCluster / GCPMachineTemplate fields where one exists,
so the CAPG book applies; validators encode Google Cloud's naming rules and
the CAPG behaviours that would otherwise fail only once the controller runs.
"""

import ipaddress
import re
from typing import Any, Optional

import attrs

from dokaseca.validators import InvalidValue, addon_names, dns_label, one_of

DEFAULT_MACHINE_TYPE = "n2-standard-2"
# CAPG's own default is pd-standard (HDD): too slow for etcd on the control plane.
DEFAULT_ROOT_DEVICE_TYPE = "pd-balanced"
ROOT_DEVICE_TYPES = ("pd-standard", "pd-ssd", "pd-balanced", "hyperdisk-balanced")
LOAD_BALANCER_TYPES = ("External", "Internal", "InternalExternal")
INTERNAL_LOAD_BALANCER_TYPES = ("Internal", "InternalExternal")
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MIN_ROOT_DEVICE_SIZE_GB = 10  # the smallest persistent disk GCE creates

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
ZONE = re.compile(r"^([a-z]+-[a-z]+[0-9]+)-[a-z]$")
MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
_RESOURCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_IMAGE = re.compile(
    r"^(https://(www|compute)\.googleapis\.com/compute/(v1|beta)/)?"
    r"(projects/[a-z][-a-z0-9.:]*[a-z0-9]/)?global/images/(family/)?[a-z]([-a-z0-9]*[a-z0-9])?$"
)
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SCOPE_PREFIX = "https://www.googleapis.com/auth/"

RESOURCE_NAME_HINT = "use 1-63 lower-case letters, digits and '-', starting with a letter and not ending with '-'"


def project_id_problem(value: str) -> Optional[str]:
    """Why ``value`` is not a GCP project id, or None."""
    if value.isdigit():
        return "this looks like a project number; give the project ID (`gcloud projects list` shows both)"
    if not PROJECT_ID.match(value):
        return "project IDs are 6-30 lower-case letters, digits and '-', start with a letter and do not end with '-'"
    return None


def machine_type_problem(value: str) -> Optional[str]:
    """Why ``value`` is not a GCE machine type name, or None."""
    if not MACHINE_TYPE.match(value):
        return f"use a GCE machine type such as '{DEFAULT_MACHINE_TYPE}', 'e2-standard-4' or 'n2-custom-4-16384'"
    return None


def _project_id(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is None:
        return
    problem = project_id_problem(value)
    if problem:
        raise InvalidValue("is not a GCP project ID", value, problem)


def _resource_name(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not _RESOURCE_NAME.match(value):
        raise InvalidValue("is not a valid Google Cloud resource name", value, RESOURCE_NAME_HINT)


def _region(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is None or REGION.match(value):
        return
    hint = "write a region such as 'europe-west1'"
    if ZONE.match(value):
        hint = f"{value!r} is a zone; its region is {ZONE.match(value).group(1)!r}"
    raise InvalidValue("is not a GCP region", value, hint)


def _ipv4(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is None:
        return
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise InvalidValue("is not an IPv4 address", value, "write an address such as '10.0.0.10'") from None


def _ipv4_cidr(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise InvalidValue(
            "is not an IPv4 CIDR block", value, "write a network address with a prefix length, e.g. '10.0.0.0/20'"
        ) from None


# -- network ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class GcpSubnet:
    """A subnetwork CAPG creates in the network (GCPCluster ``spec.network.subnets``)."""

    name: str = attrs.field(validator=_resource_name)
    cidr_block: str = attrs.field(validator=_ipv4_cidr)
    # None: the cluster's region (CAPG itself would send an empty region and fail).
    region: Optional[str] = attrs.field(default=None, validator=_region)


def subnet_network(subnet: GcpSubnet) -> Optional[ipaddress.IPv4Network]:
    try:
        return ipaddress.IPv4Network(subnet.cidr_block, strict=True)
    except ValueError:
        return None


def _subnets(instance: Any, attribute: attrs.Attribute, value: tuple[GcpSubnet, ...]) -> None:
    seen: dict[str, int] = {}
    networks: list[tuple[int, ipaddress.IPv4Network]] = []
    for index, subnet in enumerate(value):
        if subnet.name in seen:
            raise InvalidValue(f"entry {index} repeats the name of entry {seen[subnet.name]}", subnet.name, "subnet names are unique in a network")
        seen[subnet.name] = index
        network = subnet_network(subnet)
        if network is None:
            continue  # reported at its own path
        for other_index, other in networks:
            if network.overlaps(other):
                raise InvalidValue(
                    f"entry {index} overlaps entry {other_index} ({other})",
                    subnet.cidr_block,
                    "subnet ranges in one VPC network must not overlap",
                )
        networks.append((index, network))


def _auto_create_subnetworks(instance: Any, attribute: attrs.Attribute, value: Optional[bool]) -> None:
    if value is False and not instance.subnets:
        raise InvalidValue(
            "is false but no subnets are listed",
            value,
            "a custom-mode network needs subnets for the machines: list them under subnets, or remove autoCreateSubnetworks",
        )


def _create(instance: Any, attribute: attrs.Attribute, value: bool) -> None:
    if not value:
        return
    if instance.auto_create_subnetworks:
        raise InvalidValue(
            "cannot go with autoCreateSubnetworks: true", value, "prepare makes a custom-mode network: remove autoCreateSubnetworks"
        )
    if instance.host_project:
        raise InvalidValue(
            "cannot go with hostProject", value, "a Shared VPC network belongs to its host project's admins: bring it, or remove hostProject"
        )
    if not instance.subnets:
        raise InvalidValue("is true but no subnets are listed", value, "list the subnets to make, e.g. [{name: nodes, cidrBlock: 10.0.0.0/20}]")


@attrs.frozen(kw_only=True)
class GcpNetwork:
    """The VPC network of the cluster; CAPG uses it if it exists and creates it if not.

    With ``create: true`` ``prepare`` makes it instead, shared by the clusters
    of an environment: a custom-mode network, the listed subnets, a Cloud
    Router with Cloud NAT in each of their regions and the firewall rules.
    """

    name: str = attrs.field(default="default", validator=_resource_name)
    # None: CAPG's default (true, an auto-mode network) when it creates the network.
    auto_create_subnetworks: Optional[bool] = attrs.field(default=None, validator=_auto_create_subnetworks)
    subnets: tuple[GcpSubnet, ...] = attrs.field(default=(), validator=_subnets)
    # A Shared VPC host project; None means the network is in the cluster's project.
    host_project: Optional[str] = attrs.field(default=None, validator=_project_id)
    create: bool = attrs.field(default=False, validator=_create)
    # With create: nodes without public addresses reach the internet through Cloud NAT.
    cloud_nat: bool = True

    def name_for(self, fleet: str, environment: str) -> str:
        """The network's name. With ``create`` an unnamed network is ``<fleet>-<environment>``:
        the project's ``default`` network (auto mode, Google-made) is never prepare's."""
        if self.create and self.name == "default":
            return f"{fleet}-{environment}"
        return self.name


# -- API server load balancer ---------------------------------------------------------


def _internal_only(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and instance.type not in INTERNAL_LOAD_BALANCER_TYPES:
        raise InvalidValue(
            f"only applies to an internal load balancer (type is {instance.type!r})",
            value,
            "set type: Internal or InternalExternal, or remove it",
        )


@attrs.frozen(kw_only=True)
class GcpLoadBalancer:
    """The API server's load balancer: ``External`` (CAPG's global TCP proxy), ``Internal``
    (a regional passthrough load balancer inside the VPC) or ``InternalExternal`` (both)."""

    type: str = attrs.field(default="External", validator=one_of(*LOAD_BALANCER_TYPES))
    internal_access: Optional[str] = attrs.field(default=None, validator=[one_of("Regional", "Global"), _internal_only])
    subnet: Optional[str] = attrs.field(default=None, validator=[_resource_name, _internal_only])
    ip_address: Optional[str] = attrs.field(default=None, validator=[_ipv4, _internal_only])


def _load_balancer(instance: Any, attribute: attrs.Attribute, value: GcpLoadBalancer) -> None:
    """CAPG places the internal load balancer only in a subnet listed in network.subnets."""
    if value.type not in INTERNAL_LOAD_BALANCER_TYPES:
        return
    subnets = {subnet.name: subnet for subnet in instance.network.subnets}
    if not subnets:
        raise InvalidValue(
            f"type {value.type!r} needs network.subnets",
            value.type,
            "CAPG puts the internal load balancer in one of the subnets listed under network.subnets (the first unless loadBalancer.subnet names one)",
        )
    if value.subnet is not None and value.subnet not in subnets:
        raise InvalidValue("subnet is not one of network.subnets", value.subnet, "use one of: " + ", ".join(repr(n) for n in subnets))
    if value.ip_address is None:
        return
    chosen = subnets[value.subnet] if value.subnet is not None else instance.network.subnets[0]
    network = subnet_network(chosen)
    try:
        address = ipaddress.IPv4Address(value.ip_address)
    except ValueError:
        return  # reported at loadBalancer.ipAddress
    if network is not None and address not in network:
        raise InvalidValue(
            f"ipAddress is outside subnet {chosen.name!r} ({network})", value.ip_address, "pick a free address in that subnet's range"
        )


# -- machines ------------------------------------------------------------------------


def _machine_type(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    problem = machine_type_problem(value)
    if problem:
        raise InvalidValue("is not a GCE machine type", value, problem)


def _image(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not _IMAGE.match(value):
        raise InvalidValue(
            "is not a GCE image reference",
            value,
            "give an image or image-family path such as 'projects/my-project/global/images/family/capi-ubuntu-2404-k8s-v1-33' "
            "or its https://www.googleapis.com/compute/v1/... self-link; omit it to let CAPG use its default image family",
        )


def _root_device_size(instance: Any, attribute: attrs.Attribute, value: Optional[int]) -> None:
    if value is not None and value < MIN_ROOT_DEVICE_SIZE_GB:
        raise InvalidValue(f"must be at least {MIN_ROOT_DEVICE_SIZE_GB} (GB)", value, "the size of the boot disk in GB; CAPG's default is 30")


def _service_account_email(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value != "default" and not _EMAIL.match(value):
        raise InvalidValue(
            "is not a service account email",
            value,
            "write it as NAME@PROJECT.iam.gserviceaccount.com, or 'default' for the Compute Engine default service account",
        )


def _scopes(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for index, scope in enumerate(value):
        if not scope.startswith(_SCOPE_PREFIX):
            raise InvalidValue(
                f"entry {index} is not an OAuth scope URL", scope, f"the Compute API wants full URLs, e.g. {CLOUD_PLATFORM_SCOPE!r}"
            )


@attrs.frozen(kw_only=True)
class GcpServiceAccount:
    """The service account the VMs run as (GCPMachineTemplate ``serviceAccounts``)."""

    email: str = attrs.field(validator=_service_account_email)
    scopes: tuple[str, ...] = attrs.field(default=(CLOUD_PLATFORM_SCOPE,), validator=_scopes)


# -- GKE (flavor: gke) ---------------------------------------------------------------------

RELEASE_CHANNELS = ("rapid", "regular", "stable", "extended")
GKE_IMAGE_TYPES = ("COS_CONTAINERD", "UBUNTU_CONTAINERD", "WINDOWS_LTSC_CONTAINERD")
GKE_DISK_TYPES = ("pd-standard", "pd-ssd", "pd-balanced")  # CAPG's enum for node pools


def _control_plane_cidr(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is None:
        return
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        network = None
    if network is None or network.prefixlen != 28:
        raise InvalidValue("is not an IPv4 /28 block", value, "GKE's control plane takes a private /28 such as '172.16.0.0/28'")


def _private_endpoint(instance: Any, attribute: attrs.Attribute, value: bool) -> None:
    if value and not instance.nodes:
        raise InvalidValue("needs private nodes", value, "set nodes: true too; nodes with public addresses cannot reach a private-only endpoint")


def _authorized_cidr(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise InvalidValue("is not a CIDR block", value, "write a network address with a prefix length, e.g. '203.0.113.0/24'") from None


@attrs.frozen(kw_only=True)
class GkePrivateCluster:
    """A private GKE cluster: nodes without public addresses (they reach the
    internet through Cloud NAT), and with ``endpoint`` a control plane reachable
    only from inside the VPC."""

    nodes: bool = True
    endpoint: bool = attrs.field(default=False, validator=_private_endpoint)
    # None: GKE picks (Private Service Connect); a /28 for a VPC-peered control plane.
    control_plane_cidr: Optional[str] = attrs.field(default=None, validator=_control_plane_cidr)
    global_access: bool = False


@attrs.frozen(kw_only=True)
class GkeAuthorizedNetwork:
    """A range allowed to reach the control plane (master authorized networks)."""

    cidr: str = attrs.field(validator=_authorized_cidr)
    name: Optional[str] = None


@attrs.frozen(kw_only=True)
class GkeManagement:
    """Node pool management. ``autoUpgrade`` None: on in a release channel (GKE
    requires it there), off with a pinned version (Cluster API upgrades the nodes)."""

    auto_upgrade: Optional[bool] = None
    auto_repair: bool = True


@attrs.frozen(kw_only=True)
class GkeSettings:
    """The ``gke:`` block: what only the ``gke`` flavor uses. Machine types, disks,
    the node service account, labels and credentials come from the ``gcp:`` block."""

    autopilot: bool = False
    # The cluster's region or None: CAPG v1.12 runs no zonal GKE cluster (checks._gke_location_problems).
    location: Optional[str] = None
    # None: the cluster's kubernetesVersion is pinned (Autopilot: 'regular', GKE requires a channel).
    release_channel: Optional[str] = attrs.field(default=None, validator=one_of(*RELEASE_CHANNELS))
    image_type: Optional[str] = attrs.field(default=None, validator=one_of(*GKE_IMAGE_TYPES))
    private: Optional[GkePrivateCluster] = None
    # None: any address may reach the control plane; a list (even empty) turns the restriction on.
    authorized_networks: Optional[tuple[GkeAuthorizedNetwork, ...]] = None
    google_public_cidrs_access: Optional[bool] = None
    management: GkeManagement = GkeManagement()
    workload_identity: bool = True

    def channel(self) -> Optional[str]:
        return self.release_channel or ("regular" if self.autopilot else None)

    def auto_upgrade(self) -> bool:
        upgrade = self.management.auto_upgrade
        return self.channel() is not None if upgrade is None else upgrade


# -- cluster-wide ----------------------------------------------------------------------


def _zones(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for index, zone in enumerate(value):
        if not ZONE.match(zone):
            raise InvalidValue(f"entry {index} is not a GCP zone", zone, "write zones such as 'europe-west1-b'")
        if zone in value[:index]:
            raise InvalidValue(f"entry {index} is listed twice", zone)
    regions = sorted({ZONE.match(zone).group(1) for zone in value})
    if len(regions) > 1:
        raise InvalidValue("mixes zones of several regions", list(value), "a cluster lives in one region: " + " or ".join(regions))


def _labels(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    for key, label_value in value.items():
        if not _LABEL_KEY.match(key):
            raise InvalidValue(
                "has a key that is not a GCP label key", key, "keys are 1-63 lower-case letters, digits, '_' or '-', starting with a letter"
            )
        if not _LABEL_VALUE.match(label_value):
            raise InvalidValue(f"{key}: is not a GCP label value", label_value, "values are at most 63 lower-case letters, digits, '_' or '-'")


def _secret_name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise InvalidValue("is not a Kubernetes Secret name", value, "use lower-case letters, digits, '-' and '.'")


@attrs.frozen(kw_only=True)
class GcpCredentialsRef:
    """The Secret CAPG reads a service-account key from (its ``credentials`` key),
    as GCPCluster ``spec.credentialsRef``; without it CAPG uses its own credentials.

    Only the reference is rendered; the Secret is created out of band.
    """

    name: str = attrs.field(validator=_secret_name)
    # None: the cluster's namespace.
    namespace: Optional[str] = attrs.field(default=None, validator=dns_label)


def _endpoint(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not re.match(r"^https?://[^/\s]+/?$", value):
        raise InvalidValue(
            "is not an API endpoint", value, "give a scheme and host only, e.g. 'https://compute-acme.p.googleapis.com' (Private Service Connect)"
        )


@attrs.frozen(kw_only=True)
class GcpEndpoints:
    """Where ``prepare`` sends each Google API (Private Service Connect, the
    restricted VIP, a proxy); None: Google's public endpoint."""

    compute: Optional[str] = attrs.field(default=None, validator=_endpoint)
    container: Optional[str] = attrs.field(default=None, validator=_endpoint)
    iam: Optional[str] = attrs.field(default=None, validator=_endpoint)
    resource_manager: Optional[str] = attrs.field(default=None, validator=_endpoint)


_ROLE = re.compile(r"^(roles/[a-zA-Z0-9_.]+|(projects|organizations)/[^/]+/roles/[a-zA-Z0-9_.]+)$")


def _roles(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for index, role in enumerate(value):
        if not _ROLE.match(role):
            raise InvalidValue(f"entry {index} is not an IAM role", role, "write 'roles/dns.admin', or 'projects/P/roles/NAME' for a custom role")


@attrs.frozen(kw_only=True)
class GcpAddonServiceAccount:
    """A Google service account ``prepare`` makes for one addon, usable through
    GKE Workload Identity by the Kubernetes service account ``namespace/serviceAccount``."""

    roles: tuple[str, ...] = attrs.field(default=(), validator=_roles)
    namespace: str = attrs.field(default="kube-system", validator=dns_label)
    service_account: str = ""  # default: the addon name with '_' as '-'


@attrs.frozen(kw_only=True)
class GcpConfig:
    project: str = attrs.field(validator=_project_id)
    network: GcpNetwork = GcpNetwork()
    zones: tuple[str, ...] = attrs.field(default=(), validator=_zones)
    load_balancer: GcpLoadBalancer = attrs.field(default=GcpLoadBalancer(), validator=_load_balancer)
    machine_type: str = attrs.field(default=DEFAULT_MACHINE_TYPE, validator=_machine_type)
    image: Optional[str] = attrs.field(default=None, validator=_image)
    root_device_size: Optional[int] = attrs.field(default=None, validator=_root_device_size)
    root_device_type: str = attrs.field(default=DEFAULT_ROOT_DEVICE_TYPE, validator=one_of(*ROOT_DEVICE_TYPES))
    service_account: Optional[GcpServiceAccount] = None
    control_plane_service_account: Optional[GcpServiceAccount] = None
    additional_labels: dict[str, str] = attrs.field(factory=dict, validator=_labels)
    # Named like CAPG's field; a key called 'credentials' would also get its errors hidden as secret-looking.
    credentials_ref: Optional[GcpCredentialsRef] = None
    gke: GkeSettings = GkeSettings()
    # prepare only: API endpoints, and Workload Identity service accounts per addon.
    endpoints: GcpEndpoints = GcpEndpoints()
    addon_service_accounts: dict[str, GcpAddonServiceAccount] = attrs.field(factory=dict, validator=addon_names)
