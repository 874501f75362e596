"""The ``metal3:`` block of a cluster (or of ``defaults:`` / an environment)."""

import ipaddress
import re
from typing import Any, Optional

import attrs

from dokaseca import kube_vip
from dokaseca.validators import DNS1123_LABEL, InvalidValue, ip_address, one_of, ssh_public_keys

from dokaseca_metal3.inventory import Metal3Inventory
from dokaseca_metal3.labels import MACHINE_SIZE_LABEL, RESERVED_SELECTOR_LABELS, as_label, check_label

CONTROL_PLANE_SELECTOR = "controlPlane"

DEFAULT_KUBE_VIP_VERSION = kube_vip.DEFAULT_VERSION

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DIGEST_LENGTHS = {"md5": 32, "sha256": 64, "sha512": 128}


def _ip(value: Any) -> Optional[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


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

    start: str = attrs.field(validator=ip_address)
    end: str = attrs.field(validator=[ip_address, _pool_end])
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


def vip_problem(network: Metal3Network, vip: str) -> Optional[InvalidValue]:
    """Why the control-plane VIP ``vip`` (an IP address) does not fit the nodes' static addresses, or None."""
    pool = network.ip_pool if network.mode == "static" else None
    if pool is None:
        return None
    address = ipaddress.ip_address(vip)
    if pool_contains(pool, address):
        return InvalidValue(
            "is inside network.ipPool's start-end range", vip, "IPAM could give the VIP to a node; pick an address outside the range"
        )
    subnet = pool_network(pool)
    if subnet is not None and address not in subnet:
        return InvalidValue(
            f"is outside the nodes' subnet {subnet}", vip, "kube-vip announces the VIP with ARP, so it must be on the nodes' subnet"
        )
    return None


# -- the block --------------------------------------------------------------------


def _control_plane_endpoint(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if _ip(value) is None:
        raise InvalidValue(
            "is not an IP address",
            value,
            "give the virtual IP kube-vip announces for the API server, a free address in the nodes' subnet",
        )
    problem = vip_problem(instance.network, value)
    if problem is not None:
        raise problem


def _host_selectors(instance: Any, attribute: attrs.Attribute, value: dict[str, dict[str, str]]) -> None:
    for selector, labels in value.items():
        if selector != CONTROL_PLANE_SELECTOR and not (len(selector) <= 63 and DNS1123_LABEL.match(selector)):
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
            check_label(key, label_value, within=selector)


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
    kube_vip_version: str = attrs.field(default=DEFAULT_KUBE_VIP_VERSION, validator=kube_vip.release_tag)
    host_selectors: dict[str, dict[str, str]] = attrs.field(factory=dict, validator=_host_selectors)
    machine_size: Optional[str] = attrs.field(default=None, validator=as_label(MACHINE_SIZE_LABEL))
    network: Metal3Network = Metal3Network()
    ssh_authorized_keys: tuple[str, ...] = attrs.field(default=(), validator=ssh_public_keys)
    # The hosts prepare registers: inline, or in a file (relative to the fleet file's folder).
    inventory: Optional[Metal3Inventory] = None
    inventory_file: Optional[str] = attrs.field(default=None, validator=_inventory_file)
