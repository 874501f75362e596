"""The ``vsphere:`` block of a cluster (or of ``defaults:`` / an environment).

Machine shape keys are spelt as in CAPV (``numCPUs``, ``memoryMiB``,
``diskGiB``), which camelCase cannot produce from a snake_case name, so
those fields name their key with ``metadata={"key": ...}``.
"""

import ipaddress
import re
from typing import Any, Optional

import attrs

from dokaseca import kube_vip
from dokaseca.validators import InvalidValue, one_of, ssh_public_keys

DEFAULT_KUBE_VIP_VERSION = kube_vip.DEFAULT_VERSION
CLONE_MODES = ("fullClone", "linkedClone")
IDENTITY_KINDS = ("Secret", "VSphereClusterIdentity")

_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HEX_PAIRS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*$")
_THUMBPRINT_BYTES = {20: "SHA-1", 32: "SHA-256"}

# CAPV v1beta2 refuses fewer than 2 vCPUs; vSphere wants memory in 4 MiB steps;
# below 2 GiB kubeadm's preflight fails on control-plane nodes and a worker
# has no room left for pods.
MIN_CPUS = 2
MIN_MEMORY_MIB = 2048
MEMORY_STEP_MIB = 4


# -- field validators -------------------------------------------------------------


def split_server(server: str) -> tuple[str, int]:
    """``(host, port)`` of ``vcenter.example.com``, ``vcenter.example.com:8443``, ``[fd00::1]:443`` or ``fd00::1``."""
    if server.startswith("["):
        host, _, port = server[1:].partition("]")
        return host, int(port.removeprefix(":") or 443)
    host, colon, port = server.rpartition(":")
    if not colon or ":" in host:  # no port, or a bare IPv6 address
        return server, 443
    return host, int(port)


def _server(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if "://" in value or "/" in value:
        raise InvalidValue(
            "is a URL, not a host name",
            value,
            "write only the vCenter host name or IP, e.g. 'vcenter.example.com'; CAPV adds https:// and /sdk itself",
        )
    try:
        host, port = split_server(value)
    except ValueError:
        raise InvalidValue("has a port that is not a number", value, "write host:port, e.g. 'vcenter.example.com:8443'") from None
    if not 0 < port < 65536:
        raise InvalidValue("has a port outside 1-65535", value, "write host:port, e.g. 'vcenter.example.com:8443'")
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOST_NAME.match(host):
        raise InvalidValue(
            "is not a host name or IP address", value, "write the vCenter's name as in its certificate, e.g. 'vcenter.example.com'"
        )


def _thumbprint(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is None:
        return
    how = "print it with `openssl s_client -connect <server>:443 </dev/null | openssl x509 -noout -fingerprint -sha1` (or -sha256)"
    if not _HEX_PAIRS.match(value):
        raise InvalidValue("is not a colon-separated hex thumbprint", value, "it looks like 'AB:CD:...'; " + how)
    size = len(value.split(":"))
    if size not in _THUMBPRINT_BYTES:
        raise InvalidValue(f"has {size} bytes; a SHA-1 thumbprint has 20 and a SHA-256 one 32", value, how)


def _ip_address(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise InvalidValue(
            "is not an IP address",
            value,
            "give the virtual IP kube-vip announces for the API server: a free address on the machines' network, e.g. '10.0.0.10'",
        ) from None


def _not_empty(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not value.strip():
        raise InvalidValue("must not be empty", value, "omit the key to let vCenter pick its default")


def _file_path(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not value.strip():
        raise InvalidValue("must not be empty", value, "give a file path (relative to the fleet file), or omit the key")


def _num_cpus(instance: Any, attribute: attrs.Attribute, value: Optional[int]) -> None:
    if value is not None and value < MIN_CPUS:
        raise InvalidValue(f"must be at least {MIN_CPUS}", value, "CAPV and kubeadm need two vCPUs per machine")


def _memory_mib(instance: Any, attribute: attrs.Attribute, value: Optional[int]) -> None:
    if value is None:
        return
    if value < MIN_MEMORY_MIB:
        raise InvalidValue(f"must be at least {MIN_MEMORY_MIB}", value, "memory is in MiB: 8 GiB is 8192")
    if value % MEMORY_STEP_MIB:
        rounded = value + MEMORY_STEP_MIB - value % MEMORY_STEP_MIB
        raise InvalidValue(f"is not a multiple of {MEMORY_STEP_MIB}", value, f"vSphere sizes memory in 4 MiB steps, e.g. {rounded}")


def _disk_gib(instance: Any, attribute: attrs.Attribute, value: Optional[int]) -> None:
    if value is not None and value < 1:
        raise InvalidValue("must be at least 1", value, "disk size is in GiB and cannot be smaller than the VM template's disk")


def _size_names(instance: Any, attribute: attrs.Attribute, value: dict[str, Any]) -> None:
    for name in value:
        if not _DNS_LABEL.match(name):
            # The name is what pools write as machineSize; keep it simple to type.
            raise InvalidValue("has a size name that is not a DNS-1123 label", name, "use lower-case letters, digits and '-', e.g. 'large'")


# -- identity -------------------------------------------------------------------


def _identity_name(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is None:
        if instance.kind == "VSphereClusterIdentity":
            raise InvalidValue(
                "is required when kind is 'VSphereClusterIdentity'",
                value,
                "name the cluster-wide identity, e.g. 'vcenter-prod'; clusters that share vCenter credentials share it",
            )
        return
    if not _DNS_SUBDOMAIN.match(value):
        raise InvalidValue("is not a valid object name", value, "use lower-case letters, digits, '-' and '.'")


def _secret_name(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is None:
        return
    if instance.kind != "VSphereClusterIdentity":
        raise InvalidValue(
            "is only used with kind 'VSphereClusterIdentity'",
            value,
            "with kind 'Secret' the Secret is identity.name itself; set kind: VSphereClusterIdentity or remove secretName",
        )
    if not _DNS_SUBDOMAIN.match(value):
        raise InvalidValue("is not a valid Secret name", value, "use lower-case letters, digits, '-' and '.'")


def _allowed_namespaces(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if value and instance.kind != "VSphereClusterIdentity":
        raise InvalidValue(
            "is only used with kind 'VSphereClusterIdentity'",
            list(value),
            "a Secret identity is only usable from its own namespace; set kind: VSphereClusterIdentity or remove allowedNamespaces",
        )
    for index, namespace in enumerate(value):
        if not _DNS_LABEL.match(namespace):
            raise InvalidValue(f"entry {index} is not a namespace name", namespace, "namespaces are DNS-1123 labels")


@attrs.frozen(kw_only=True)
class VSphereIdentity:
    """Which vCenter credentials CAPV uses for the cluster; never the credentials themselves.

    ``Secret`` (the default, as CAPV's template): a Secret with ``username`` and
    ``password`` in the cluster's namespace, named ``name`` (default: the
    cluster's name). CAPV takes ownership of it and deletes it with the cluster.
    ``VSphereClusterIdentity``: a cluster-wide identity ``name`` whose Secret
    ``secretName`` (default: ``name``) lives in CAPV's own namespace, usable from
    ``allowedNamespaces`` (default: every namespace).
    """

    kind: str = attrs.field(default="Secret", validator=one_of(*IDENTITY_KINDS))
    name: Optional[str] = attrs.field(default=None, validator=_identity_name)
    secret_name: Optional[str] = attrs.field(default=None, validator=_secret_name)
    allowed_namespaces: tuple[str, ...] = attrs.field(default=(), validator=_allowed_namespaces)


# -- machine sizes ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VSphereMachineSize:
    """A named machine shape; a field left out comes from the block's defaults."""

    num_cpus: Optional[int] = attrs.field(default=None, validator=_num_cpus, metadata={"key": "numCPUs"})
    memory_mib: Optional[int] = attrs.field(default=None, validator=_memory_mib, metadata={"key": "memoryMiB"})
    disk_gib: Optional[int] = attrs.field(default=None, validator=_disk_gib, metadata={"key": "diskGiB"})


@attrs.frozen(kw_only=True)
class VSphereConfig:
    server: str = attrs.field(validator=_server)
    thumbprint: Optional[str] = attrs.field(default=None, validator=_thumbprint)
    # Used by `prepare` only, never rendered: a CA bundle (PEM) to trust vCenter's
    # certificate with, and a YAML file with `username` and `password`. Relative
    # paths are relative to the fleet file.
    ca_file: Optional[str] = attrs.field(default=None, validator=_file_path)
    credentials_file: Optional[str] = attrs.field(default=None, validator=_file_path)
    control_plane_endpoint: str = attrs.field(validator=_ip_address)
    template: str = attrs.field(validator=_not_empty)
    network: str = attrs.field(validator=_not_empty)
    datacenter: Optional[str] = attrs.field(default=None, validator=_not_empty)
    datastore: Optional[str] = attrs.field(default=None, validator=_not_empty)
    resource_pool: Optional[str] = attrs.field(default=None, validator=_not_empty)
    folder: Optional[str] = attrs.field(default=None, validator=_not_empty)
    storage_policy: Optional[str] = attrs.field(default=None, validator=_not_empty)
    # Full clones by default: only they grow the disk to diskGiB; a linked
    # clone keeps the VM template's disk size whatever diskGiB says.
    clone_mode: str = attrs.field(default="fullClone", validator=one_of(*CLONE_MODES))
    kube_vip_version: str = attrs.field(default=DEFAULT_KUBE_VIP_VERSION, validator=kube_vip.release_tag)
    num_cpus: int = attrs.field(default=2, validator=_num_cpus, metadata={"key": "numCPUs"})
    memory_mib: int = attrs.field(default=8192, validator=_memory_mib, metadata={"key": "memoryMiB"})
    disk_gib: int = attrs.field(default=25, validator=_disk_gib, metadata={"key": "diskGiB"})
    sizes: dict[str, VSphereMachineSize] = attrs.field(factory=dict, validator=_size_names)
    ssh_authorized_keys: tuple[str, ...] = attrs.field(default=(), validator=ssh_public_keys)
    identity: VSphereIdentity = VSphereIdentity()
