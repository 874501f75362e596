"""The ``metal3:`` block of a cluster (or of ``defaults:`` / an environment)."""

import ipaddress
import re
from typing import Any, Optional

import attrs

from dokaseca import kube_vip
from dokaseca.validators import InvalidValue, one_of, ssh_public_keys

from dokaseca_metal3.inventory import Metal3Inventory
from dokaseca_metal3.labels import MACHINE_SIZE_LABEL, RESERVED_SELECTOR_LABELS, label_key_problem, label_value_problem

CONTROL_PLANE_SELECTOR = "controlPlane"

DEFAULT_KUBE_VIP_VERSION = kube_vip.DEFAULT_VERSION

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DIGEST_LENGTHS = {"md5": 32, "sha256": 64, "sha512": 128}


def _ip(value: Any) -> Optional[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _ip_address(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and _ip(value) is None:
        raise InvalidValue("is not an IP address", value, "write an IPv4 or IPv6 address such as '192.168.10.5'")


# -- image ------------------------------------------------------------------------


def _image_url(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise InvalidValue("is not an http(s) URL", value, "Ironic downloads the image: give its http:// or https:// address")


def _checksum(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value.startswith(("http://", "https://")):
        return  # Ironic fetches the checksum file and finds the image's line
    if not value:
        if instance.format == "live-iso":
            return
        raise InvalidValue("must not be empty", value, "give the image's digest or the URL of its checksum file")
    if not _HEX.match(value):
        raise InvalidValue(
            "is neither a hex digest nor an http(s) URL",
            value,
            "give the digest (e.g. the output of sha256sum) or the URL of a checksum file",
        )
    expected = _DIGEST_LENGTHS.get(instance.checksum_type)
    if expected is not None and len(value) != expected:
        by_length = {length: name for name, length in _DIGEST_LENGTHS.items()}
        hint = f"a {instance.checksum_type} digest has {expected} hex digits"
        if len(value) in by_length:
            hint += f"; this looks like {by_length[len(value)]}: set checksumType: {by_length[len(value)]}"
        raise InvalidValue(f"has {len(value)} hex digits", value, hint)


@attrs.frozen(kw_only=True)
class Metal3Image:
    """The OS image written to the hosts' disks (by Ironic, through BareMetalHost.spec.image)."""

    url: str = attrs.field(validator=_image_url)
    checksum: str = attrs.field(validator=_checksum)
    checksum_type: str = attrs.field(default="sha256", validator=one_of("sha256", "sha512", "md5"))
    # None: Ironic detects the format from the image itself.
    format: Optional[str] = attrs.field(default=None, validator=one_of("raw", "qcow2", "vmdk", "live-iso"))


# -- network ----------------------------------------------------------------------


def _pool_end(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    start, end = _ip(instance.start), _ip(value)
    if start is None or end is None:
        return  # reported by the address validators
    if start.version != end.version:
        raise InvalidValue("is not the same IP version as start", value, f"start is {instance.start}")
    if end < start:
        raise InvalidValue("comes before start", value, f"the range runs from start ({instance.start}) up to end")
    network = pool_network(instance)
    if network is not None and end not in network:
        raise InvalidValue(f"is outside {network}", value, "start and end must be in the same subnet (start/prefix)")


def _pool_prefix(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    start = _ip(instance.start)
    bits = start.max_prefixlen if start is not None else 128
    if not 1 <= value <= bits:
        raise InvalidValue(f"must be between 1 and {bits}", value, "the prefix length of the nodes' subnet, e.g. 24")


def _pool_gateway(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    gateway = _ip(value)
    if gateway is None:
        raise InvalidValue("is not an IP address", value, "the router of the nodes' subnet, e.g. '192.168.10.1'")
    network = pool_network(instance)
    if network is not None and gateway not in network:
        raise InvalidValue(f"is outside the nodes' subnet {network}", value, "the gateway must be reachable on the subnet")
    if pool_contains(instance, gateway):
        raise InvalidValue("is inside the start-end range", value, "IPAM would hand the gateway's address to a node; narrow the range")


def _ip_addresses(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for index, address in enumerate(value):
        if _ip(address) is None:
            raise InvalidValue(f"entry {index} is not an IP address", address, "list DNS server addresses such as '192.168.10.2'")


def pool_network(pool: "Metal3IPPool") -> Optional[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The subnet ``start/prefix``, or None when either is invalid."""
    try:
        return ipaddress.ip_network(f"{pool.start}/{pool.prefix}", strict=False)
    except ValueError:
        return None


def pool_contains(pool: "Metal3IPPool", address: Any) -> bool:
    start, end = _ip(pool.start), _ip(pool.end)
    return start is not None and end is not None and start.version == address.version and start <= address <= end


@attrs.frozen(kw_only=True)
class Metal3IPPool:
    """Addresses handed to nodes (an ``ipam.metal3.io`` IPPool): ``start``-``end`` in ``start/prefix``."""

    start: str = attrs.field(validator=_ip_address)
    end: str = attrs.field(validator=[_ip_address, _pool_end])
    prefix: int = attrs.field(validator=_pool_prefix)
    gateway: str = attrs.field(validator=_pool_gateway)
    dns_servers: tuple[str, ...] = attrs.field(default=(), validator=_ip_addresses)


def _network_interface(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if instance.mode != "static":
        return
    if not value:
        raise InvalidValue(
            "is required when mode is 'static'",
            value,
            "name the host NIC to configure as BareMetalHost introspection reports it (status.hardware.nics[].name), e.g. 'enp1s0'",
        )
    if len(value) > 15 or "/" in value or " " in value:
        raise InvalidValue("is not a Linux interface name", value, "use the NIC name from introspection, e.g. 'enp1s0'")


def _network_ip_pool(instance: Any, attribute: attrs.Attribute, value: Optional[Metal3IPPool]) -> None:
    if instance.mode == "static" and value is None:
        raise InvalidValue("is required when mode is 'static'", value, "give start, end, prefix and gateway of the addresses for the nodes")
    if instance.mode == "dhcp" and value is not None:
        raise InvalidValue("is only used with mode 'static'", f"mode: {instance.mode}", "set mode: static, or remove ipPool to keep DHCP")


@attrs.frozen(kw_only=True)
class Metal3Network:
    """How nodes get their address: ``dhcp`` (the image's default) or ``static`` from ``ipPool``."""

    mode: str = attrs.field(default="dhcp", validator=one_of("dhcp", "static"))
    interface: Optional[str] = attrs.field(default=None, validator=_network_interface)
    ip_pool: Optional[Metal3IPPool] = attrs.field(default=None, validator=_network_ip_pool)


# -- the block --------------------------------------------------------------------


def _control_plane_endpoint(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    vip = _ip(value)
    if vip is None:
        raise InvalidValue(
            "is not an IP address",
            value,
            "give the virtual IP kube-vip announces for the API server, a free address in the nodes' subnet",
        )
    pool = instance.network.ip_pool
    if instance.network.mode != "static" or pool is None:
        return
    if pool_contains(pool, vip):
        raise InvalidValue(
            "is inside network.ipPool's start-end range", value, "IPAM could give the VIP to a node; pick an address outside the range"
        )
    network = pool_network(pool)
    if network is not None and vip not in network:
        raise InvalidValue(
            f"is outside the nodes' subnet {network}", value, "kube-vip announces the VIP with ARP, so it must be on the nodes' subnet"
        )


def _kube_vip_version(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not _VERSION.match(value):
        raise InvalidValue("is not a kube-vip release tag", value, f"write it as vMAJOR.MINOR.PATCH, e.g. '{DEFAULT_KUBE_VIP_VERSION}'")


def _host_selectors(instance: Any, attribute: attrs.Attribute, value: dict[str, dict[str, str]]) -> None:
    for selector, labels in value.items():
        if selector != CONTROL_PLANE_SELECTOR and not (len(selector) <= 63 and _DNS_LABEL.match(selector)):
            raise InvalidValue(
                "has a key that is neither 'controlPlane' nor a worker pool name",
                selector,
                "key the selectors by 'controlPlane' or a pool's name",
            )
        for key, label_value in labels.items():
            if key in RESERVED_SELECTOR_LABELS:
                raise InvalidValue(
                    f"{selector}: label {key!r} is set by DoKa Seca",
                    key,
                    "environment, role and machine size are added to every selector; remove it",
                )
            problem = label_key_problem(key)
            if problem:
                raise InvalidValue(f"{selector}: {key!r} is not a label key", key, problem)
            problem = label_value_problem(label_value)
            if problem:
                raise InvalidValue(f"{selector}.{key}: is not a label value", label_value, problem)


def _machine_size(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None:
        problem = label_value_problem(value)
        if problem:
            raise InvalidValue(f"is not a label value (hosts carry it as {MACHINE_SIZE_LABEL})", value, problem)


def _inventory_file(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and instance.inventory is not None:
        raise InvalidValue(
            "cannot be used together with inventory",
            value,
            "list the hosts in one place; set inventoryFile: null in the layer that lists them inline",
        )
    if value is not None and not value.strip():
        raise InvalidValue("must not be empty", value, "give the path of a YAML file with site: and hosts:, relative to the fleet file")


@attrs.frozen(kw_only=True)
class Metal3Config:
    control_plane_endpoint: str = attrs.field(validator=_control_plane_endpoint)
    image: Metal3Image
    kube_vip_version: str = attrs.field(default=DEFAULT_KUBE_VIP_VERSION, validator=_kube_vip_version)
    host_selectors: dict[str, dict[str, str]] = attrs.field(factory=dict, validator=_host_selectors)
    machine_size: Optional[str] = attrs.field(default=None, validator=_machine_size)
    network: Metal3Network = Metal3Network()
    ssh_authorized_keys: tuple[str, ...] = attrs.field(default=(), validator=ssh_public_keys)
    # The hosts prepare registers: inline, or in a file (relative to the fleet file's folder).
    inventory: Optional[Metal3Inventory] = None
    inventory_file: Optional[str] = attrs.field(default=None, validator=_inventory_file)
