"""The host inventory as the fleet loader checks it: BMC URLs, credential
sources, MACs, labels, duplicates, and inventory files, each problem at its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from dokaseca.config import load_fleet, parse_fleet
from dokaseca.errors import FleetError
from dokaseca.plugins import PluginHost
from dokaseca.testing import OneClusterFleet, fleet_yaml

import dokaseca_metal3.plugin
from dokaseca_metal3.inventory import BMC_SCHEMES

HOSTS_PATH = "clusters[0].metal3.inventory.hosts"
BASE_CONFIG: dict[str, Any] = {
    "controlPlaneEndpoint": "172.16.10.5",
    "image": {"url": "https://images.example.com/ubuntu-2404.qcow2", "checksum": "a" * 64},
}


def bmh(name: str, role: str = "worker", mac: str = "52:54:00:aa:00:01", bmc: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """An inventory host; ``bmc`` keys override the defaults (None writes null, as good as absent)."""
    defaults = {"address": f"redfish://10.0.0.1/redfish/v1/Systems/{name}", "usernameEnv": "BMC_USER", "passwordEnv": "BMC_PASS"}
    return {"name": name, "role": role, "bootMACAddress": mac, "bmc": {**defaults, **(bmc or {})}, **fields}


def with_hosts(*hosts: dict[str, Any], **inventory: Any) -> dict[str, Any]:
    return {**BASE_CONFIG, "inventory": {"hosts": list(hosts), **inventory}}


FLEET = OneClusterFleet("metal3", BASE_CONFIG, name="edge-1")


@pytest.fixture
def host(plugin_host: Callable[..., PluginHost]) -> PluginHost:
    return plugin_host(("metal3", dokaseca_metal3.plugin))


def test_an_inline_inventory_loads_into_the_config(host: PluginHost) -> None:
    hints = {"deviceName": "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:2:0:0", "minSizeGigabytes": 100, "rotational": False}
    config = with_hosts(
        bmh("cp-1", "control-plane", rack="r1", machineSize="r650", labels={"example.com/gpu": "none"}, rootDeviceHints=hints),
        site="ams1",
    )
    inventory = parse_fleet(FLEET.text(config), host).clusters[0].provider_config.inventory
    assert inventory.site == "ams1"
    (cp,) = inventory.hosts
    assert (cp.name, cp.role, cp.rack, cp.machine_size, cp.boot_mac_address) == ("cp-1", "control-plane", "r1", "r650", "52:54:00:aa:00:01")
    assert cp.bmc.password_env == "BMC_PASS"
    assert cp.root_device_hints.min_size_gigabytes == 100 and cp.root_device_hints.rotational is False


@pytest.mark.parametrize("scheme", sorted(BMC_SCHEMES))
def test_every_baremetal_operator_scheme_is_accepted(host: PluginHost, scheme: str) -> None:
    config = with_hosts(bmh("w-1", bmc={"address": f"{scheme}://bmc-1.dc1.example.com:8443/redfish/v1/Systems/1"}))
    assert parse_fleet(FLEET.text(config), host).clusters[0].provider_config.inventory.hosts[0].bmc.address.startswith(scheme)


@pytest.mark.parametrize(
    ("address", "fragments"),
    [
        ("redfsh://10.0.0.5/redfish/v1/Systems/1", ["'redfsh', which is not a baremetal-operator BMC driver", "did you mean 'redfish'?"]),
        ("idrac://10.0.0.5", ["gone from the baremetal-operator", "idrac-redfish://"]),
        ("https://10.0.0.5/redfish/v1/Systems/1", ["'redfish+https://'"]),
        ("10.0.0.5", ["has no driver scheme", "ipmi://10.0.0.5"]),
        ("ipmi://", ["has no host"]),
        ("ipmi://10.0.0.5:99999", ["is not a valid URL"]),
        ("redfish://bmc_1.example.com/redfish/v1/Systems/1", ["neither an IP address nor a DNS name"]),
        ("floppy://10.0.0.5", ["the baremetal-operator knows", "redfish-virtualmedia"]),
    ],
)
def test_a_bad_bmc_address_is_reported_at_its_path(host: PluginHost, address: str, fragments: list[str]) -> None:
    problems = FLEET.problems(host, with_hosts(bmh("w-1"), bmh("w-2", mac="52:54:00:aa:00:02", bmc={"address": address})))
    path = f"{HOSTS_PATH}[1].bmc.address"
    assert list(problems) == [path], problems
    for fragment in fragments:
        assert fragment in problems[path]


def test_credentials_in_a_bmc_url_are_refused_without_being_echoed(host: PluginHost) -> None:
    problems = FLEET.problems(host, with_hosts(bmh("w-1", bmc={"address": "redfish://root:calvin-Pa55@10.0.0.5/redfish/v1/Systems/1"})))
    message = problems[f"{HOSTS_PATH}[0].bmc.address"]
    assert "carries credentials" in message and "passwordEnv" in message
    assert "calvin-Pa55" not in message and "root:" not in message


def test_a_password_written_in_the_fleet_file_is_refused_and_not_shown(host: PluginHost) -> None:
    problems = FLEET.problems(host, with_hosts(bmh("w-1", bmc={"password": "calvin-Pa55", "passwordEnv": None})))
    message = problems[f"{HOSTS_PATH}[0].bmc.password"]
    assert "must not be written here" in message and "passwordEnv" in message
    assert "calvin-Pa55" not in str(problems)


@pytest.mark.parametrize(
    ("bmc", "path", "fragment"),
    [
        ({"passwordEnv": None}, "bmc", "names no BMC password"),
        ({"usernameEnv": None}, "bmc", "names no BMC username"),
        ({"passwordFile": "pass.txt"}, "bmc", "names the password more than once"),
        ({"credentialsFile": "bmc.yaml"}, "bmc", "credentialsFile holds both"),
        ({"passwordEnv": "hunter 2"}, "bmc.passwordEnv", "is not an environment variable name"),
        ({"passwordFile": " ", "passwordEnv": None}, "bmc.passwordFile", "must not be empty"),
    ],
)
def test_credential_sources_are_checked(host: PluginHost, bmc: dict, path: str, fragment: str) -> None:
    problems = FLEET.problems(host, with_hosts(bmh("w-1", bmc=bmc)))
    assert f"{HOSTS_PATH}[0].{path}" in problems, problems
    assert fragment in problems[f"{HOSTS_PATH}[0].{path}"]


def test_a_username_may_be_written_and_a_credentials_file_stands_alone(host: PluginHost) -> None:
    config = with_hosts(
        bmh("w-1", bmc={"username": "root", "usernameEnv": None}),
        bmh("w-2", mac="52:54:00:aa:00:02", bmc={"credentialsFile": "bmc/w-2.yaml", "usernameEnv": None, "passwordEnv": None}),
    )
    hosts = parse_fleet(FLEET.text(config), host).clusters[0].provider_config.inventory.hosts
    assert hosts[0].bmc.username == "root" and hosts[1].bmc.credentials_file == "bmc/w-2.yaml"


@pytest.mark.parametrize(
    ("fields", "path", "fragment"),
    [
        ({"bootMACAddress": "52-54-00-aa-00-01"}, "bootMACAddress", "is not a MAC address"),
        ({"role": "master"}, "role", "expected one of: 'control-plane', 'worker'"),
        ({"name": "Node_1"}, "name", "must be a DNS-1123 label"),
        ({"rack": "rack 1"}, "rack", "is not a label value"),
        ({"labels": {"dokaseca.io/role": "worker"}}, "labels", "use the host's role field instead"),
        ({"labels": {"cluster.x-k8s.io/cluster-name": "x"}}, "labels", "which DoKa Seca sets"),
        ({"labels": {"disk": "fast ssd"}}, "labels", "is not a label value"),
        ({"rootDeviceHints": {"deviceName": "sda"}}, "rootDeviceHints.deviceName", "is not a device path"),
        ({"rootDeviceHints": {"hctl": "0:0:0"}}, "rootDeviceHints.hctl", "is not a SCSI address"),
        ({"rootDeviceHints": {"minSizeGigabytes": -1}}, "rootDeviceHints.minSizeGigabytes", "must be zero or more"),
        ({"rootDeviceHints": {"size": 100}}, "rootDeviceHints", "unknown key(s) 'size'"),
    ],
)
def test_host_fields_are_checked(host: PluginHost, fields: dict, path: str, fragment: str) -> None:
    problems = FLEET.problems(host, with_hosts({**bmh("w-1"), **fields}))
    assert f"{HOSTS_PATH}[0].{path}" in problems, problems
    assert fragment in problems[f"{HOSTS_PATH}[0].{path}"]


def test_an_unquoted_all_digit_mac_is_caught(host: PluginHost) -> None:
    # YAML 1.1 reads 52:54:00:10:01:01 as a base-60 number.
    text = FLEET.text(with_hosts(bmh("w-1", mac="MAC"))).replace("bootMACAddress: MAC", "bootMACAddress: 52:54:00:10:01:01")
    with pytest.raises(FleetError) as caught:
        parse_fleet(text, host)
    (problem,) = caught.value.problems
    assert problem.path == f"{HOSTS_PATH}[0].bootMACAddress" and "quote the value" in str(problem)


def test_a_machine_listed_twice_is_reported_each_way(host: PluginHost) -> None:
    twin = bmh("w-1", mac="52:54:00:AA:00:01")  # same name, same MAC (case aside), same BMC
    problems = FLEET.problems(host, with_hosts(bmh("w-1"), twin))
    assert sorted(problems) == [f"{HOSTS_PATH}[1].bmc.address", f"{HOSTS_PATH}[1].bootMACAddress", f"{HOSTS_PATH}[1].name"]
    assert "duplicates hosts[0].bootMACAddress" in problems[f"{HOSTS_PATH}[1].bootMACAddress"]


def test_inventory_and_inventory_file_together_are_refused(host: PluginHost) -> None:
    problems = FLEET.problems(host, {**with_hosts(bmh("w-1")), "inventoryFile": "hosts.yaml"})
    assert "cannot be used together with inventory" in problems["clusters[0].metal3.inventoryFile"]


# -- inventory files ----------------------------------------------------------------


def write_fleet(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "fleet.yaml"
    path.write_text(fleet_yaml("metal3", config, name="edge-1"))
    return path


def test_an_inventory_file_is_read_relative_to_the_fleet_file(host: PluginHost, tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "dc1.yaml").write_text(yaml.safe_dump({"site": "dc1", "hosts": [bmh("cp-1", "control-plane")]}))
    fleet = load_fleet(write_fleet(tmp_path, {**BASE_CONFIG, "inventoryFile": "sites/dc1.yaml"}), host)
    from dokaseca_metal3.inventory import load

    inventory, problems = load(fleet.clusters[0])
    assert problems == []
    assert inventory.site == "dc1" and [h.name for h in inventory.hosts] == ["cp-1"]
    assert inventory.folder == tmp_path / "sites"


def test_problems_in_an_inventory_file_name_the_file_and_the_path_inside(host: PluginHost, tmp_path: Path) -> None:
    hosts = [bmh("cp-1", "control-plane"), bmh("w-1", mac="52:54:00:aa:00:02", bmc={"address": "redfsh://10.0.0.9", "password": "calvin-Pa55"})]
    (tmp_path / "dc1.yaml").write_text(yaml.safe_dump({"site": "dc1", "hosts": hosts, "sight": "typo"}))
    with pytest.raises(FleetError) as caught:
        load_fleet(write_fleet(tmp_path, {**BASE_CONFIG, "inventoryFile": "dc1.yaml"}), host)
    text = str(caught.value)
    assert {p.path for p in caught.value.problems} == {"clusters[0].metal3.inventoryFile"}
    messages = [p.message for p in caught.value.problems]
    assert any(f"{tmp_path / 'dc1.yaml'}: (top): unknown key(s) 'sight'" in m for m in messages), messages
    # Structure errors come first; once the file structures, every value is checked.
    (tmp_path / "dc1.yaml").write_text(yaml.safe_dump({"site": "dc1", "hosts": hosts}))
    with pytest.raises(FleetError) as caught:
        load_fleet(tmp_path / "fleet.yaml", host)
    messages = [p.message for p in caught.value.problems]
    assert any("hosts[1].bmc.address: uses 'redfsh'" in m for m in messages), messages
    assert any("hosts[1].bmc.password: must not be written here" in m for m in messages), messages
    assert "calvin-Pa55" not in str(caught.value) and "calvin-Pa55" not in text


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "cannot read"), ("hosts: [unclosed", "is not valid YAML (line"), ("- just\n- a list\n", "must be a mapping")],
)
def test_an_unreadable_inventory_file_is_a_problem_at_inventory_file(host: PluginHost, tmp_path: Path, content: Any, fragment: str) -> None:
    if content is not None:
        (tmp_path / "dc1.yaml").write_text(content)
    with pytest.raises(FleetError) as caught:
        load_fleet(write_fleet(tmp_path, {**BASE_CONFIG, "inventoryFile": "dc1.yaml"}), host)
    (problem,) = caught.value.problems
    assert problem.path == "clusters[0].metal3.inventoryFile" and fragment in str(problem)
