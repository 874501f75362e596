"""The ``azure:`` block of a cluster (or of ``defaults:`` / an environment)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import attrs

from dokaseca.validators import InvalidValue, addon_names, cidrs, dns_label, one_of, ssh_public_key_problem

DEFAULT_VM_SIZE = "Standard_D2s_v3"
DEFAULT_OS_DISK_SIZE_GB = 128  # as CAPZ's templates; CAPZ itself would give 30
# Subnet names and address ranges CAPZ's templates and defaulting webhook use.
DEFAULT_CONTROL_PLANE_SUBNET = "control-plane-subnet"
DEFAULT_NODE_SUBNET = "node-subnet"
CAPZ_CONTROL_PLANE_CIDR = "10.0.0.0/16"
CAPZ_NODE_CIDR = "10.1.0.0/16"
# CAPZ puts an internal API load balancer at 10.0.0.100, the 100th address of
# its default control-plane subnet; we keep that offset in any subnet.
PRIVATE_IP_OFFSET = 100

AZURE_ZONES = ("1", "2", "3")
IDENTITY_TYPES = ("WorkloadIdentity", "ServicePrincipal")
# Premium V2 and Ultra disks cannot hold an OS.
OS_DISK_TYPES = ("Standard_LRS", "StandardSSD_LRS", "StandardSSD_ZRS", "Premium_LRS", "Premium_ZRS")

_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{1,90}$")
_VNET_NAME = re.compile(r"^[A-Za-z0-9][-\w.]{0,62}\w$", re.ASCII)
_SUBNET_NAME = re.compile(r"^[A-Za-z0-9]([-\w.]{0,78}\w)?$", re.ASCII)
_VM_SIZE = re.compile(r"^(Standard|Basic)_[A-Za-z0-9_]+$")
_USER_ASSIGNED_IDENTITY = re.compile(
    r"^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/resourceGroups/[^/]+"
    r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$",
    re.IGNORECASE,
)
_TAG_FORBIDDEN = set("<>%&\\?/")
# CAPZ finds what it owns by these tags; a user value would hide resources from it.
_CAPZ_TAG_PREFIX = "sigs.k8s.io_cluster-api-provider-azure_"
_RESERVED_TAG_PREFIXES = ("microsoft", "azure", "windows")


def vm_size_problem(value: str) -> str | None:
    """Why ``value`` is not an Azure VM size, or None (also used for pools' machineSize)."""
    if _VM_SIZE.match(value):
        return None
    return "write an Azure VM size such as 'Standard_D4s_v5' (list them with `az vm list-sizes -l LOCATION -o table`)"


def _guid(what: str, how: str):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and not _GUID.match(value):
            raise InvalidValue(f"is not a {what} (a GUID)", value, f"it looks like '00000000-0000-0000-0000-000000000000'; {how}")

    return check


def _k8s_name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (len(value) > 253 or not _K8S_NAME.match(value)):
        raise InvalidValue(
            "is not a Kubernetes object name",
            value,
            "use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
        )


def _resource_group(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not _RESOURCE_GROUP.match(value) or value.endswith(".")):
        raise InvalidValue(
            "is not a resource group name",
            value,
            "use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'",
        )


def _vm_size(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    problem = vm_size_problem(value)
    if problem:
        raise InvalidValue("is not an Azure VM size", value, problem)


def _vnet_name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not _VNET_NAME.match(value):
        raise InvalidValue(
            "is not a virtual network name",
            value,
            "use 2-64 letters, digits, '-', '_' or '.', starting with a letter or digit and ending with a letter, digit or '_'",
        )


def _subnet_name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not _SUBNET_NAME.match(value):
        raise InvalidValue(
            "is not a subnet name",
            value,
            "use 1-80 letters, digits, '-', '_' or '.', starting with a letter or digit and ending with a letter, digit or '_'",
        )


def _networks(blocks: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The blocks that parse; bad ones are reported by their own field's validator."""
    found = []
    for block in blocks:
        try:
            found.append(ipaddress.ip_network(block, strict=True))
        except ValueError:
            pass
    return found


def _within(inner: Any, outer: list) -> bool:
    return any(inner.version == o.version and inner.subnet_of(o) for o in outer)


# -- identity ---------------------------------------------------------------------


def _secret_name(instance: AzureIdentity, attribute: attrs.Attribute, value: Any) -> None:
    if instance.type == "ServicePrincipal" and not value:
        raise InvalidValue(
            "is required when type is 'ServicePrincipal'",
            value,
            "name the Secret whose 'clientSecret' key holds the service principal's password (create it yourself; it is never rendered)",
        )
    if instance.type != "ServicePrincipal" and value:
        raise InvalidValue("is only used when type is 'ServicePrincipal'", value, "remove it, or set type: ServicePrincipal")
    _k8s_name(instance, attribute, value)


def _secret_namespace(instance: AzureIdentity, attribute: attrs.Attribute, value: Any) -> None:
    if value and instance.type != "ServicePrincipal":
        raise InvalidValue("is only used when type is 'ServicePrincipal'", value, "remove it, or set type: ServicePrincipal")
    dns_label(instance, attribute, value)


@attrs.frozen(kw_only=True)
class AzureIdentity:
    """The AzureClusterIdentity CAPZ uses to manage this cluster's Azure resources.

    ``WorkloadIdentity`` (the default) federates CAPZ's service account with
    the managed identity or app ``clientId``; ``ServicePrincipal`` reads the
    password from the Secret ``secretName`` (key ``clientSecret``), which is
    referenced, never rendered.
    """

    type: str = attrs.field(default="WorkloadIdentity", validator=one_of(*IDENTITY_TYPES))
    client_id: str = attrs.field(
        validator=_guid(
            "client id", "use the managed identity's or app registration's client id (`az identity show -n NAME -g GROUP --query clientId`)"
        )
    )
    tenant_id: str = attrs.field(validator=_guid("tenant id", "see `az account show --query tenantId -o tsv`"))
    # Defaults to "<cluster>-identity", so clusters sharing a namespace do not overwrite each other's identity.
    name: str | None = attrs.field(default=None, validator=_k8s_name)
    secret_name: str | None = attrs.field(default=None, validator=_secret_name)
    # Defaults to the cluster's namespace.
    secret_namespace: str | None = attrs.field(default=None, validator=_secret_namespace)


# -- network ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AzureVnet:
    """The virtual network; CAPZ creates it unless one of that name exists in ``resourceGroup``."""

    name: str | None = attrs.field(default=None, validator=_vnet_name)  # default "<cluster>-vnet"
    resource_group: str | None = attrs.field(default=None, validator=_resource_group)  # default: the cluster's
    cidr_blocks: tuple[str, ...] = attrs.field(default=(), validator=cidrs)  # default (CAPZ): 10.0.0.0/8


@attrs.frozen(kw_only=True)
class AzureSubnet:
    name: str | None = attrs.field(default=None, validator=_subnet_name)
    cidr_blocks: tuple[str, ...] = attrs.field(default=(), validator=cidrs)


SUBNET_ROLES = {"control-plane": "controlPlane", "node": "node"}


def subnet_range_problem(subnets: AzureSubnets, vnet_blocks: tuple[str, ...], roles: tuple[str, ...]) -> InvalidValue | None:
    """The first problem with the ranges of the subnets of ``roles`` (CAPZ's
    defaults where unset): one overlapping the other, or lying outside the vnet."""
    ranges = {role: _networks(subnets.effective_cidrs(role)) for role in roles}
    if len(ranges) == 2:
        for cp_block in ranges["control-plane"]:
            for node_block in ranges["node"]:
                if cp_block.version == node_block.version and cp_block.overlaps(node_block):
                    return InvalidValue(
                        f"overlap: controlPlane {cp_block} and node {node_block}", str(node_block), "give each subnet its own range"
                    )
    vnet = _networks(vnet_blocks)
    if not vnet:
        return None  # an existing vnet's range is only known to Azure
    for role, blocks in ranges.items():
        key = SUBNET_ROLES[role]
        for block in blocks:
            if not _within(block, vnet):
                whose = "" if subnets.subnet(role).cidr_blocks else "CAPZ's default "
                return InvalidValue(
                    f"{key}: {whose}{block} is outside vnet.cidrBlocks",
                    str(block),
                    f"set subnets.{key}.cidrBlocks inside {', '.join(vnet_blocks)}",
                )
    return None


def _subnets(instance: AzureConfig, attribute: attrs.Attribute, value: AzureSubnets) -> None:
    if value.control_plane.name and value.control_plane.name == value.node.name:
        raise InvalidValue(
            "name the same subnet for the control plane and the nodes", value.node.name, "CAPZ needs one subnet per role; rename one"
        )
    # Only the ranges the block sets: which of CAPZ's defaults apply depends on
    # the flavor (AKS has no control-plane subnet), so checks.py tests those.
    problem = subnet_range_problem(value, instance.vnet.cidr_blocks, tuple(r for r in SUBNET_ROLES if value.subnet(r).cidr_blocks))
    if problem is not None:
        raise problem


@attrs.frozen(kw_only=True)
class AzureSubnets:
    control_plane: AzureSubnet = AzureSubnet()  # default name "control-plane-subnet"
    node: AzureSubnet = AzureSubnet()  # default name "node-subnet"

    def subnet(self, role: str) -> AzureSubnet:
        return self.control_plane if role == "control-plane" else self.node

    def effective_cidrs(self, role: str) -> tuple[str, ...]:
        """The subnet's ranges as CAPZ will use them (its defaults when none are set)."""
        if role == "control-plane":
            return self.control_plane.cidr_blocks or (CAPZ_CONTROL_PLANE_CIDR,)
        return self.node.cidr_blocks or (CAPZ_NODE_CIDR,)


# -- machines ---------------------------------------------------------------------------


def _disk_size(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not 30 <= value <= 4095:
        raise InvalidValue("must be between 30 and 4095 (GiB)", value, "CAPZ's images need 30 GiB; Azure OS disks stop at 4095")


@attrs.frozen(kw_only=True)
class AzureOsDisk:
    size_gb: int = attrs.field(default=DEFAULT_OS_DISK_SIZE_GB, validator=_disk_size)
    # None: Azure's default for the VM size.
    type: str | None = attrs.field(default=None, validator=one_of(*OS_DISK_TYPES))


def _zones(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for index, zone in enumerate(value):
        if zone not in AZURE_ZONES:
            raise InvalidValue(f"entry {index} is not an availability zone", zone, "Azure zones are '1', '2' and '3' (quote them)")
        if zone in value[:index]:
            raise InvalidValue(f"entry {index} repeats zone {zone!r}", zone, "list each zone once")


def _tags(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    for key, tag_value in value.items():
        if not key or len(key) > 512 or _TAG_FORBIDDEN & set(key):
            raise InvalidValue("has an invalid tag name", key, "use 1-512 characters without < > % & \\ ? /")
        if key.lower().startswith(_RESERVED_TAG_PREFIXES):
            raise InvalidValue("has a reserved tag name", key, "names starting with 'microsoft', 'azure' or 'windows' belong to Azure")
        if key.startswith(_CAPZ_TAG_PREFIX):
            raise InvalidValue("sets a tag CAPZ owns", key, "CAPZ finds its resources by these tags; choose another name")
        if len(tag_value) > 256:
            raise InvalidValue(f"tag {key!r} is longer than 256 characters", tag_value[:40] + "...", "shorten the value")


def _ssh_public_key(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    problem = None if value is None else ssh_public_key_problem(value)
    if problem is not None:
        raise problem


def _user_assigned_identity(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not _USER_ASSIGNED_IDENTITY.match(value):
        raise InvalidValue(
            "is not the resource id of a user-assigned managed identity",
            value,
            "it looks like '/subscriptions/SUB/resourceGroups/GROUP/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME'"
            " (`az identity show -n NAME -g GROUP --query id`)",
        )


# -- AKS (flavor: aks) ----------------------------------------------------------------------


def _max_pods(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not 10 <= value <= 250:
        raise InvalidValue("must be between 10 and 250", value, "AKS allows 10 to 250 pods per node (System pools at least 30)")


def _ip_ranges(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    cidrs(instance, attribute, value)
    for index, block in enumerate(value):
        if "/" not in block:  # AKS (and CAPZ) parse each entry as a CIDR
            raise InvalidValue(f"entry {index} is not a CIDR block", block, f"add the prefix length, e.g. '{block}/32'")


@attrs.frozen(kw_only=True)
class AksSettings:
    """AKS flavor settings. The Kubernetes version is the cluster's, each agent
    pool's VM size its pool's ``machineSize`` (else ``vmSize``); the vnet and
    node subnet are ``vnet`` and ``subnets.node``.

    ``systemPools`` names the worker pools AKS runs its own pods on (mode
    System); the others are User pools. Pools are listed in the provider-neutral
    ``workers:`` and cannot carry Azure keys, so the ``aks:`` block names them;
    when it names none, the first pool is the System pool.
    """

    system_pools: tuple[str, ...] = ()
    sku_tier: str = attrs.field(default="Free", validator=one_of("Free", "Standard"))
    network_plugin: str = attrs.field(default="azure", validator=one_of("azure", "kubenet", "none"))
    # Used with the azure plugin: pods get addresses from network.pods, not from the node subnet.
    # null gives them node-subnet addresses (network.pods is then ignored by AKS).
    network_plugin_mode: str | None = attrs.field(default="overlay", validator=one_of("overlay"))
    network_policy: str | None = attrs.field(default=None, validator=one_of("azure", "calico", "cilium"))
    network_dataplane: str | None = attrs.field(default=None, validator=one_of("azure", "cilium"))
    outbound_type: str | None = attrs.field(
        default=None, validator=one_of("loadBalancer", "managedNATGateway", "userAssignedNATGateway", "userDefinedRouting")
    )
    authorized_ip_ranges: tuple[str, ...] = attrs.field(default=(), validator=_ip_ranges)
    max_pods: int | None = attrs.field(default=None, validator=_max_pods)
    os_disk_type: str | None = attrs.field(default=None, validator=one_of("Managed", "Ephemeral"))
    # Workload identity (and the OIDC issuer it needs) for addons' managed identities.
    workload_identity: bool = True
    # User-assigned managed identities (resource ids) of the control plane and of the kubelets;
    # default: a system-assigned control-plane identity and AKS's own kubelet identity.
    identity_id: str | None = attrs.field(default=None, validator=_user_assigned_identity)
    kubelet_identity_id: str | None = attrs.field(default=None, validator=_user_assigned_identity)


# -- prepare ------------------------------------------------------------------------------

# The clouds azure-core knows the Resource Manager endpoint of, by CAPZ's names
# (AzureCluster.spec.azureEnvironment); any other through resourceManagerEndpoint.
CLOUDS = ("AzurePublicCloud", "AzureUSGovernmentCloud", "AzureChinaCloud")


def _https_url(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not re.match(r"^https://[^/\s]+(/\S*)?$", value):
        raise InvalidValue("is not an https URL", value, "write it as 'https://management.local.azurestack.external'")


@attrs.frozen(kw_only=True)
class AzureNetwork:
    """With ``create: true`` prepare makes one vnet per environment (``vnet``,
    named ``<fleet>-<environment>`` in the group of that name unless ``vnet``
    says otherwise) with the ``subnets``, shared by the environment's clusters."""

    create: bool = False


@attrs.frozen(kw_only=True)
class AzureAddonIdentity:
    """A user-assigned managed identity ``prepare`` makes for one addon, handed to
    GitOps as ``<addon>_client_id`` / ``_namespace`` / ``_service_account``."""

    namespace: str = attrs.field(default="kube-system", validator=dns_label)
    service_account: str = ""  # default: the addon name with '_' as '-'


# -- the block ----------------------------------------------------------------------------


def _private_ip(instance: AzureConfig, attribute: attrs.Attribute, value: Any) -> None:
    if instance.api_endpoint != "private":
        if value is not None:
            raise InvalidValue("is only used when apiEndpoint is 'private'", value, "remove it, or set apiEndpoint: private")
        return
    subnet = _networks(instance.subnets.effective_cidrs("control-plane"))
    if value is None:
        if subnet and api_server_private_ip(instance) is None:
            raise InvalidValue(
                f"is required: the control-plane subnet {subnet[0]} is too small for CAPZ's default address (its {PRIVATE_IP_OFFSET}th)",
                value,
                "give a free address of the control-plane subnet for the internal API load balancer",
            )
        return
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidValue("is not an IP address", value, "write an address of the control-plane subnet, e.g. '10.0.0.100'") from None
    containing = [n for n in subnet if address.version == n.version and address in n]
    if subnet and not containing:
        raise InvalidValue("is outside the control-plane subnet", value, f"pick an address in {', '.join(map(str, subnet))}")
    # Azure keeps the first four addresses and the last one of every subnet.
    if containing and (int(address) - int(containing[0].network_address) < 4 or address == containing[0].broadcast_address):
        raise InvalidValue("is an address Azure reserves", value, "the first four and the last address of a subnet cannot be used")


def api_server_private_ip(config: AzureConfig) -> str | None:
    """The internal API load balancer's address: the configured one, else the
    100th address of the control-plane subnet (CAPZ's 10.0.0.100 in its default subnet)."""
    if config.api_server_private_ip:
        return config.api_server_private_ip
    try:
        subnet = ipaddress.ip_network(config.subnets.effective_cidrs("control-plane")[0], strict=True)
    except ValueError:
        return None
    if subnet.num_addresses <= PRIVATE_IP_OFFSET + 1:
        return None
    return str(subnet.network_address + PRIVATE_IP_OFFSET)


@attrs.frozen(kw_only=True)
class AzureConfig:
    identity: AzureIdentity
    # Required by CAPZ; may be left to `prepare`, which reads the logged-in subscription.
    subscription_id: str | None = attrs.field(default=None, validator=_guid("subscription id", "see `az account show --query id -o tsv`"))
    resource_group: str | None = attrs.field(default=None, validator=_resource_group)  # default: the cluster's name
    vm_size: str = attrs.field(default=DEFAULT_VM_SIZE, validator=_vm_size)
    os_disk: AzureOsDisk = AzureOsDisk()
    availability_zones: tuple[str, ...] = attrs.field(default=(), validator=_zones)
    vnet: AzureVnet = AzureVnet()
    subnets: AzureSubnets = attrs.field(default=AzureSubnets(), validator=_subnets)
    api_endpoint: str = attrs.field(default="public", validator=one_of("public", "private"))
    api_server_private_ip: str | None = attrs.field(default=None, validator=_private_ip)
    additional_tags: dict[str, str] = attrs.field(factory=dict, validator=_tags)
    # A user-assigned managed identity on control-plane VMs, for cloud-provider-azure
    # (CAPZ writes its client id into azure.json), as CAPZ's own templates do.
    cloud_provider_identity_id: str | None = attrs.field(default=None, validator=_user_assigned_identity)
    ssh_public_key: str | None = attrs.field(default=None, validator=_ssh_public_key)
    # What `prepare` uses. The cloud to sign in to and call, or a Resource Manager endpoint of
    # one's own (Azure Stack Hub): tokens are then asked for that endpoint's scope, and msal's
    # instance discovery is off, since the sign-in authority (AZURE_AUTHORITY_HOST) is not one it knows.
    cloud: str = attrs.field(default="AzurePublicCloud", validator=one_of(*CLOUDS))
    resource_manager_endpoint: str | None = attrs.field(default=None, validator=_https_url)
    # Without resourceGroup: the cluster's own group (its name, as CAPZ) or one per environment.
    resource_group_scope: str = attrs.field(default="cluster", validator=one_of("cluster", "environment"))
    network: AzureNetwork = AzureNetwork()
    addon_identities: dict[str, AzureAddonIdentity] = attrs.field(factory=dict, validator=addon_names)
    # The cluster's service-account token issuer: when known, each addon identity trusts
    # tokens of its service account from there (a federated credential, for workload identity).
    service_account_issuer: str | None = attrs.field(default=None, validator=_https_url)
    aks: AksSettings = AksSettings()
