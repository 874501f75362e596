"""The bare-metal host inventory: which machines there are, how to reach their
BMCs, where the BMC credentials come from, and the labels pools select them by.

It is written in the ``metal3:`` block, inline (``inventory:``) or in a file
the block names (``inventoryFile:``, relative to the fleet file's folder), at
any layer, so one site's hosts can serve every cluster of an environment.
Credentials are only *named* here (an environment variable or a file); the
values are read by ``prepare`` and go nowhere but a Secret on the management
cluster.

Loading is pure: it reads the inventory file, never a credential, never the network.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import attrs
import yaml

from dokaseca.builtin.standard_labels import ENVIRONMENT_LABEL, FLEET_LABEL

# structure_problems: the loader's own error paths, so a file's problems read like the inline block's.
from dokaseca.config import make_converter, structure_problems, validate_tree, yaml_key
from dokaseca.errors import REDACTED, Problem, ProviderError, redact
from dokaseca.manifests import CLUSTER_NAME_LABEL, MANAGED_BY_LABEL
from dokaseca.models import ClusterSpec
from dokaseca.validators import InvalidValue, dns_label, non_negative, one_of

from dokaseca_metal3.labels import MACHINE_SIZE_LABEL, RACK_LABEL, ROLE_LABEL, ROLES, SITE_LABEL, as_label, check_label


def _with_transports(driver: str, *transports: str) -> set[str]:
    return {driver, *(f"{driver}+{transport}" for transport in transports)}


# The URL schemes the baremetal-operator (v0.13, pkg/hardwareutils/bmc) maps to
# a driver. `idrac://` (WSMAN) and `ibmc://` were removed from it in 2024.
BMC_SCHEMES = frozenset(
    {"ipmi", "libvirt", "irmc"}
    | _with_transports("redfish", "http", "https")
    | _with_transports("redfish-virtualmedia", "http", "https")
    | _with_transports("redfish-uefihttp", "http", "https")
    | _with_transports("idrac-redfish", "http", "https")
    | _with_transports("idrac-virtualmedia", "http", "https")
    | _with_transports("ilo5-redfish", "http", "https")
    | _with_transports("ilo5-virtualmedia", "http", "https")
    | _with_transports("ilo4", "https")
    | _with_transports("ilo4-virtualmedia", "https")
    | _with_transports("ilo5", "https")
)
_REMOVED_SCHEMES = {
    "idrac": "the WSMAN iDRAC driver is gone from the baremetal-operator: use idrac-redfish:// or idrac-virtualmedia://",
    "ibmc": "the iBMC driver is gone from the baremetal-operator: use redfish:// or redfish-virtualmedia://",
}
_BMC_URL_HINT = "write <driver>://<host>[:port][/path], e.g. 'ipmi://10.0.0.5' or 'redfish-virtualmedia://10.0.0.5/redfish/v1/Systems/1'"
_DNS_NAME = re.compile(r"^(([A-Za-z0-9]|[A-Za-z0-9][-A-Za-z0-9]{0,61}[A-Za-z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][-A-Za-z0-9]{0,61}[A-Za-z0-9])$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HCTL = re.compile(r"^\d+:\d+:\d+:\d+$")
_SET_BY_DOKASECA = {
    ENVIRONMENT_LABEL: "environment",
    ROLE_LABEL: "role",
    MACHINE_SIZE_LABEL: "machineSize",
    SITE_LABEL: "the inventory's site",
    RACK_LABEL: "rack",
    MANAGED_BY_LABEL: "",
    FLEET_LABEL: "",
    CLUSTER_NAME_LABEL: "",  # CAPM3 sets it on the hosts a cluster takes
}


def _scheme_hint(scheme: str) -> str:
    if scheme in _REMOVED_SCHEMES:
        return _REMOVED_SCHEMES[scheme]
    if scheme in ("http", "https"):
        return f"name the driver before the transport, e.g. 'redfish+{scheme}://' or 'redfish-virtualmedia+{scheme}://'"
    close = difflib.get_close_matches(scheme, sorted(BMC_SCHEMES), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    drivers = sorted({name.split("+")[0] for name in BMC_SCHEMES})
    return "the baremetal-operator knows " + ", ".join(drivers) + " (some also as <driver>+http / +https)"


def _without_userinfo(address: str) -> str:
    scheme, sep, rest = address.partition("://")
    return f"{scheme}{sep}{REDACTED}@{rest.rpartition('@')[2]}"


def _bmc_address(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    scheme, sep, rest = value.partition("://")
    if "@" in rest.split("/", 1)[0]:
        # Checked first: no later message may echo a password written into the URL.
        raise InvalidValue(
            "carries credentials",
            _without_userinfo(value),
            "remove 'user:password@' from the URL and name the credentials in usernameEnv/passwordEnv or a credentials file",
        )
    if not sep:
        raise InvalidValue("has no driver scheme", value, _BMC_URL_HINT)
    if scheme not in BMC_SCHEMES:
        raise InvalidValue(f"uses {scheme!r}, which is not a baremetal-operator BMC driver", value, _scheme_hint(scheme))
    try:
        parsed = urlsplit(value)
        host, _ = parsed.hostname, parsed.port  # .port raises on a bad port
    except ValueError as exc:
        raise InvalidValue(f"is not a valid URL ({exc})", value, _BMC_URL_HINT) from None
    if not host:
        raise InvalidValue("has no host", value, _BMC_URL_HINT)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _DNS_NAME.match(host):
            raise InvalidValue(f"has the host {host!r}, neither an IP address nor a DNS name", value, _BMC_URL_HINT) from None


def _env_name(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not _ENV_NAME.match(value):
        raise InvalidValue("is not an environment variable name", value, "name the variable, e.g. 'DC1_BMC_PASSWORD', not its value")


def _no_literal_password(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None:
        raise InvalidValue(
            "must not be written here",
            REDACTED,
            "put the password in an environment variable and name it in passwordEnv, or in a file named by passwordFile or credentialsFile",
        )


def _file_path(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not value.strip():
        raise InvalidValue("must not be empty", value, "give a path, relative to the file that lists the host")


@attrs.frozen(kw_only=True)
class Metal3Bmc:
    """How to reach a host's BMC. The credentials are named, never written."""

    address: str = attrs.field(validator=_bmc_address)
    disable_certificate_verification: bool = False
    username: Optional[str] = None  # a user name is not a secret; the password is
    username_env: Optional[str] = attrs.field(default=None, validator=_env_name)
    username_file: Optional[str] = attrs.field(default=None, validator=_file_path)
    password: Optional[str] = attrs.field(default=None, validator=_no_literal_password)
    password_env: Optional[str] = attrs.field(default=None, validator=_env_name)
    password_file: Optional[str] = attrs.field(default=None, validator=_file_path)
    # A YAML file with `username:` and `password:`.
    credentials_file: Optional[str] = attrs.field(default=None, validator=_file_path)


def _keys_set(bmc: Metal3Bmc, *names: str) -> list[str]:
    """The keys, as written in YAML, of the fields among ``names`` that are set."""
    fields = attrs.fields_dict(Metal3Bmc)
    return [yaml_key(fields[name]) for name in names if getattr(bmc, name) is not None]


def _credential_sources(instance: Any, attribute: attrs.Attribute, bmc: Metal3Bmc) -> None:
    if not isinstance(bmc, Metal3Bmc) or bmc.password is not None:
        return  # a literal password is reported at bmc.password
    usernames = _keys_set(bmc, "username", "username_env", "username_file")
    passwords = _keys_set(bmc, "password_env", "password_file")
    if bmc.credentials_file is not None:
        if usernames or passwords:
            raise InvalidValue(
                "names credentialsFile and " + ", ".join(usernames + passwords),
                ", ".join(["credentialsFile", *usernames, *passwords]),
                "credentialsFile holds both the username and the password: keep either it or the others",
            )
        return
    for what, found in (("username", usernames), ("password", passwords)):
        if len(found) > 1:
            raise InvalidValue(f"names the {what} more than once", ", ".join(found), "keep one of them")
    if not usernames:
        raise InvalidValue(
            "names no BMC username",
            bmc.address,
            "set usernameEnv (an environment variable), usernameFile, username, or credentialsFile (a YAML file with username and password)",
        )
    if not passwords:
        raise InvalidValue(
            "names no BMC password",
            bmc.address,
            "set passwordEnv (an environment variable), passwordFile or credentialsFile; the password itself never goes in the file",
        )


def _mac(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not _MAC.match(value):
        raise InvalidValue("is not a MAC address", value, "write six hex pairs separated by ':', e.g. '52:54:00:6c:3c:01'")


def _host_labels(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    for key, label_value in value.items():
        if key in _SET_BY_DOKASECA:
            field = _SET_BY_DOKASECA[key]
            raise InvalidValue(f"sets {key!r}, which DoKa Seca sets", key, f"use the host's {field} field instead" if field else "remove it")
        check_label(key, label_value)


def _device_name(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not value.startswith("/dev/"):
        raise InvalidValue("is not a device path", value, "write a Linux device name such as '/dev/sda' or a /dev/disk/by-path/ link")


def _hctl(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and not _HCTL.match(value):
        raise InvalidValue("is not a SCSI address", value, "write host:channel:target:lun, e.g. '0:0:0:0'")


@attrs.frozen(kw_only=True)
class RootDeviceHints:
    """Which disk gets the image (BareMetalHost.spec.rootDeviceHints); a disk must match every hint."""

    device_name: Optional[str] = attrs.field(default=None, validator=_device_name)
    hctl: Optional[str] = attrs.field(default=None, validator=_hctl)
    model: Optional[str] = None
    vendor: Optional[str] = None
    serial_number: Optional[str] = None
    min_size_gigabytes: Optional[int] = attrs.field(default=None, validator=non_negative)
    wwn: Optional[str] = None
    wwn_with_extension: Optional[str] = None
    wwn_vendor_extension: Optional[str] = None
    rotational: Optional[bool] = None


@attrs.frozen(kw_only=True)
class Metal3Host:
    """One machine: registered as a BareMetalHost named ``name``."""

    name: str = attrs.field(validator=dns_label)
    role: str = attrs.field(validator=one_of(*ROLES))
    bmc: Metal3Bmc = attrs.field(validator=_credential_sources)
    boot_mac_address: str = attrs.field(validator=_mac, metadata={"key": "bootMACAddress"})
    machine_size: Optional[str] = attrs.field(default=None, validator=as_label(MACHINE_SIZE_LABEL))
    rack: Optional[str] = attrs.field(default=None, validator=as_label(RACK_LABEL))
    # Serves only clusters of this environment; without it, the environment of the cluster that registers it.
    environment: Optional[str] = attrs.field(default=None, validator=dns_label)
    labels: dict[str, str] = attrs.field(factory=dict, validator=_host_labels)
    root_device_hints: Optional[RootDeviceHints] = None


@attrs.frozen(kw_only=True)
class Metal3Inventory:
    """The ``inventory:`` block, and the content of an inventory file."""

    site: Optional[str] = attrs.field(default=None, validator=as_label(SITE_LABEL))
    hosts: tuple[Metal3Host, ...] = ()


def duplicate_problems(inventory: Metal3Inventory) -> list[Problem]:
    """A machine listed twice (same name, boot MAC or BMC address); paths relative to the inventory."""
    found, seen = [], {}
    for index, host in enumerate(inventory.hosts):
        for field, key in (("name", host.name), ("bootMACAddress", host.boot_mac_address.lower()), ("bmc.address", host.bmc.address)):
            first = seen.setdefault((field, key), index)
            if first != index:
                found.append(
                    Problem(
                        path=f"hosts[{index}].{field}",
                        message=f"duplicates hosts[{first}].{field}",
                        value=key,
                        hint="list each machine once: a machine has one name, one boot MAC and one BMC",
                    )
                )
    return found


# -- an inventory as prepare uses it ----------------------------------------------


@attrs.frozen(kw_only=True)
class Inventory:
    """The effective inventory of a cluster, and where it was written."""

    site: Optional[str]
    hosts: tuple[Metal3Host, ...]
    folder: Path  # relative credential files are relative to it
    file: Optional[str] = None  # None: inline in the fleet file

    def where(self, index: int, field: str = "") -> str:
        """Where hosts[index] (and one of its fields) is written, for messages."""
        inner = f"hosts[{index}]" + (f".{field}" if field else "")
        return f"{inner} in {self.file}" if self.file else f"metal3.inventory.{inner}"

    def serving(self, cluster: ClusterSpec) -> list[tuple[int, Metal3Host]]:
        """The hosts that may serve ``cluster`` (by environment), with their index."""
        return [(index, host) for index, host in enumerate(self.hosts) if host.environment in (None, cluster.environment)]


def load(cluster: ClusterSpec) -> tuple[Optional[Inventory], list[Problem]]:
    """The cluster's inventory (None without one) and what is wrong with it.

    Problem paths are relative to the cluster entry, as ``check_cluster``
    reports them; a file's problems are reported at ``metal3.inventoryFile``
    and name the file and the path inside it.
    """
    config = cluster.provider_config
    folder = Path(cluster.source).parent if cluster.source else Path(".")
    if config.inventory is not None:
        inventory = config.inventory
        problems = [attrs.evolve(p, path=f"metal3.inventory.{p.path}") for p in duplicate_problems(inventory)]
        return Inventory(site=inventory.site, hosts=inventory.hosts, folder=folder), problems
    if config.inventory_file is None:
        return None, []
    path = folder / Path(config.inventory_file).expanduser()

    def problem(message: str, hint: str = "") -> list[Problem]:
        return [Problem(path="metal3.inventoryFile", message=message, value=config.inventory_file, hint=hint)]

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, problem(f"cannot read {path}: {exc.strerror}", "the path is relative to the fleet file's folder")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, problem(f"{path} is not valid YAML" + (f" (line {mark.line + 1})" if mark else ""))
    inventory, inner = _structure(raw)
    problems = [_in_file(p, path) for p in inner]
    if inventory is None:
        return None, problems
    return Inventory(site=inventory.site, hosts=inventory.hosts, folder=path.parent, file=str(path)), problems


def _in_file(problem: Problem, path: Path) -> Problem:
    """A problem inside an inventory file, reported at metal3.inventoryFile with the file and the inner path."""
    moved = attrs.evolve(problem, path="metal3.inventoryFile", message=f"{path}: {problem.path or '(top)'}: {problem.message}")
    if "value" in problem.to_json():  # the outer path no longer says whether the value is a secret
        moved = attrs.evolve(moved, value=redact(problem.path, problem.value))
    return moved


def _structure(raw: Any) -> tuple[Optional[Metal3Inventory], list[Problem]]:
    """Structure an inventory file's content as the fleet loader structures a block."""
    if raw is None:
        raw = {}
    with attrs.validators.disabled():
        try:
            inventory = make_converter().structure(raw, Metal3Inventory)
        except Exception as exc:  # cattrs raises an exception group of everything wrong
            return None, structure_problems(exc, "", Metal3Inventory)
    return inventory, validate_tree(inventory, "") + duplicate_problems(inventory)


def load_or_fail(cluster: ClusterSpec) -> Optional[Inventory]:
    """The inventory, or ProviderError when it has problems (it changed since the fleet was validated)."""
    inventory, problems = load(cluster)
    if problems:
        raise ProviderError(f"cluster {cluster.name!r}: " + "; ".join(str(p) for p in problems))
    return inventory
