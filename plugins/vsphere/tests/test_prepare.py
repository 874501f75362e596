"""``prepare`` against the vCenter stand-in on loopback, through the real pyVmomi.

Clusters come from fleet files through the real loader and plugin host; the
stand-in records every SOAP call, so tests count what was read and what was
changed, and holds a call while a client process is killed (see
tests/support/vsphere_stand_in.py).
"""

from __future__ import annotations

import copy
import hashlib
import http.client
import logging
import os
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from vsphere_stand_in import PASSWORD, USER, example_inventory

from dokaseca.errors import ProviderError
from dokaseca.testing import fleet_clusters, prepare_text, prepared

import dokaseca_vsphere.plugin
from dokaseca_vsphere.prepare import forget
from dokaseca_vsphere.session import PinnedContext, ThumbprintMismatch

TEMPLATE = "ubuntu-2404-kube-v1.33.1"
FOLDER = "/dc1/vm/acme-dev"  # <fleet>-<environment>, in the datacenter's VM folder
POOL = "/dc1/host/cluster1/Resources/acme-dev"
CREATED = (f"create VM folder {FOLDER}", f"create resource pool {POOL}")


@pytest.fixture
def host(plugin_host):
    return plugin_host(("vsphere", dokaseca_vsphere.plugin))


def failure(host, text: str) -> str:
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, text)
    assert caught.value.exit_code == 2
    return str(caught.value)


def again(vcenter) -> None:
    """As a new process would: logged out, nothing remembered, fresh call records."""
    forget()
    vcenter.clear_calls()


# -- a first run, a second run, a dry run -----------------------------------------------


def test_the_first_run_finds_the_inventory_and_makes_the_folder_and_pool(host, vcenter, fleet):
    result = prepare_text(host, fleet.text())

    assert result.outputs == {
        "server": vcenter.server,
        "datacenter": "/dc1",
        "network": "/dc1/network/k8s-nodes",
        "datastore": "/dc1/datastore/vsanDatastore",
        "template": f"/dc1/vm/templates/{TEMPLATE}",
        "folder": FOLDER,
        "resource_pool": POOL,
    }
    assert result.actions == CREATED
    assert vcenter.mutating() == ["CreateFolder", "CreateResourcePool"]
    inventory = vcenter.inventory
    assert inventory.at(FOLDER).type == "Folder"
    pool = inventory.at(POOL)
    assert pool.type == "ResourcePool"
    # What govc and the vSphere Client give a new pool: no fixed reservation, no limit, normal shares.
    expected = {"reservation": "0", "expandableReservation": "true", "limit": "-1", "shares": "normal"}
    assert pool.spec == {"cpuAllocation": expected, "memoryAllocation": expected}


def test_a_second_run_makes_no_mutating_call(host, vcenter, fleet):
    first = prepare_text(host, fleet.text())
    again(vcenter)

    second = prepare_text(host, fleet.text())

    assert second.actions == ()
    assert second.outputs == first.outputs
    assert vcenter.mutating() == []
    # Log in, one inventory read through a container view, one read of the template.
    assert vcenter.calls == [
        "RetrieveServiceContent",
        "Login",
        "RetrieveServiceContent",
        "CreateContainerView",
        "RetrievePropertiesEx",
        "DestroyView",
        "RetrievePropertiesEx",
    ]


def test_a_dry_run_changes_nothing_and_lists_exactly_what_the_real_run_does(host, vcenter, fleet):
    planned = prepare_text(host, fleet.text(), dry_run=True)

    assert vcenter.mutating() == []
    assert vcenter.inventory.at(FOLDER) is None and vcenter.inventory.at(POOL) is None
    assert planned.outputs["folder"] == FOLDER  # a path is known before the folder exists
    again(vcenter)
    done = prepare_text(host, fleet.text())
    assert planned.actions == done.actions == CREATED
    assert len(vcenter.mutating()) == len(done.actions)


def test_every_session_is_logged_out_at_the_end(host, vcenter, fleet):
    prepare_text(host, fleet.text())
    assert vcenter.sessions  # still logged in: the session serves every cluster of the run
    forget()
    assert vcenter.sessions == {} and vcenter.logouts == 1


def test_every_call_pays_the_round_trip_and_reads_are_never_held(host, vcenter, fleet):
    prepare_text(host, fleet.text())
    again(vcenter)
    vcenter.pacing.latency = 0.02
    hold = vcenter.pacing.hold_at(1)  # only a mutating call is held, and a second run makes none

    started = time.monotonic()
    assert prepare_text(host, fleet.text()).actions == ()
    assert time.monotonic() - started >= 0.02 * len(vcenter.calls) and not hold.reached.is_set()


def test_a_large_inventory_is_read_page_by_page(host, vcenter, fleet):
    vcenter.page_size = 3
    below_the_root = len(vcenter.inventory.entities) - 1

    result = prepare_text(host, fleet.text())

    assert below_the_root == 15 and vcenter.calls.count("ContinueRetrievePropertiesEx") == 4  # 3 objects per answer
    assert result.outputs["template"] == f"/dc1/vm/templates/{TEMPLATE}"


# -- what CAPV will look for ----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"network": "/dc1/network/k8s-nodes", "template": f"templates/{TEMPLATE}", "datastore": "/dc1/datastore/vsanDatastore"},
        {"datacenter": "/dc1", "template": f"/dc1/vm/templates/{TEMPLATE}", "resourcePool": POOL},
        {"template": "ubuntu-2404-kube-v1.33.*", "network": "k8s-*"},  # govmomi's path.Match patterns
    ],
)
def test_names_relative_and_absolute_paths_find_the_same_objects(host, vcenter, fleet, changes):
    expected = prepare_text(host, fleet.text()).outputs
    again(vcenter)
    assert prepare_text(host, fleet.text(fleet.with_config(**changes))).outputs == expected


def test_every_value_that_finds_nothing_is_named_at_once_with_what_there_is(host, vcenter, fleet):
    config = fleet.with_config(template="ubuntu-2404-kube-v1.33.2", network="k8s-node", datastore="vsan-datastore")
    message = failure(host, fleet.text(config))

    assert message.startswith(f"cluster web-1: 3 problems in vCenter {vcenter.server}:")
    assert "vsphere.template 'ubuntu-2404-kube-v1.33.2' matches no template in datacenter /dc1 (did you mean '/dc1/vm/templates/ubuntu-2404-kube-v1.33.1'?)" in message
    assert "vsphere.network 'k8s-node' matches no network in datacenter /dc1 (did you mean '/dc1/network/k8s-nodes'?)" in message
    assert "vsphere.datastore 'vsan-datastore' matches no datastore" in message and "did you mean '/dc1/datastore/vsanDatastore'?" in message
    assert vcenter.mutating() == [], "nothing is made while a value is wrong"


def test_a_missing_datacenter_is_named_with_the_ones_there_are(host, vcenter, fleet):
    message = failure(host, fleet.text(fleet.with_config(datacenter="dc-1")))
    assert message == "cluster web-1: vsphere.datacenter 'dc-1' matches no datacenter (did you mean '/dc1'?)"


def test_without_a_datacenter_the_only_one_is_taken_and_two_are_too_many(host, vcenter, fleet):
    config = {k: v for k, v in fleet.with_config().items() if k != "datacenter"}
    assert prepare_text(host, fleet.text(config)).outputs["datacenter"] == "/dc1"

    inventory = example_inventory()
    inventory.datacenter("dc2", parent=inventory.folder("group-d1", "emea"))
    vcenter.reset(inventory)
    again(vcenter)
    message = failure(host, fleet.text(config))
    assert "vsphere.datacenter is not set, and vCenter has 2 datacenters ('/dc1', '/emea/dc2')" in message


def test_a_name_found_twice_must_be_written_as_a_path(host, vcenter, fleet):
    vcenter.inventory.vm(vcenter.inventory.at("/dc1/vm").moid, TEMPLATE)
    message = failure(host, fleet.text())
    assert f"vsphere.template {TEMPLATE!r} names 2 templates ('/dc1/vm/templates/{TEMPLATE}', '/dc1/vm/{TEMPLATE}')" in message
    assert "write the full path of one" in message


def test_without_a_datastore_capv_needs_the_only_one(host, vcenter, fleet):
    config = {k: v for k, v in fleet.with_config().items() if k != "datastore"}
    message = failure(host, fleet.text(config))
    assert "vsphere.datastore and vsphere.storagePolicy are not set, and datacenter /dc1 has 2 datastores" in message

    again(vcenter)
    with_policy = prepare_text(host, fleet.text({**config, "storagePolicy": "vSAN Default Storage Policy"}))
    assert "datastore" not in with_policy.outputs  # CAPV picks one the policy allows


# -- the template ---------------------------------------------------------------------------


def test_a_template_of_another_kubernetes_version_is_refused_with_the_fix(host, vcenter, fleet):
    message = failure(host, fleet.text(fleet.with_config(template="ubuntu-2404-kube-v1.32.5")))
    assert message.startswith(
        "cluster web-1: vsphere.template '/dc1/vm/templates/ubuntu-2404-kube-v1.32.5' carries Kubernetes v1.32.5 "
        "(its vApp property KUBERNETES_SEMVER), but the cluster runs v1.33.1 (kubernetesVersion)"
    )
    assert f"'/dc1/vm/templates/{TEMPLATE}' looks like one" in message and "or set kubernetesVersion" in message
    assert vcenter.mutating() == []

    again(vcenter)
    result = prepare_text(host, fleet.text(fleet.with_config(template="ubuntu-2404-kube-v1.32.5"), kubernetes_version="v1.32.5"))
    assert result.outputs["template"] == "/dc1/vm/templates/ubuntu-2404-kube-v1.32.5"


def test_the_template_suggested_instead_carries_exactly_the_version(host, vcenter, fleet):
    vcenter.inventory.vm(vcenter.inventory.at("/dc1/vm/templates").moid, "ubuntu-2204-kube-v1.32.50")  # sorts first
    message = failure(host, fleet.text(fleet.with_config(template=TEMPLATE), kubernetes_version="v1.32.5"))
    assert "'/dc1/vm/templates/ubuntu-2404-kube-v1.32.5' looks like one" in message


def test_without_vapp_properties_the_name_then_the_annotation_tell_the_version(host, vcenter, fleet):
    templates = vcenter.inventory.at("/dc1/vm/templates").moid
    vcenter.inventory.vm(templates, "ubuntu-2404-kube-v1.31.0")
    vcenter.inventory.vm(templates, "golden-ubuntu", annotation="Kubernetes v1.31.0, built by the platform team")
    vcenter.inventory.vm(templates, "custom-image")

    for name, source in (("ubuntu-2404-kube-v1.31.0", "its name"), ("golden-ubuntu", "its annotation")):
        message = failure(host, fleet.text(fleet.with_config(template=name)))
        assert f"carries Kubernetes v1.31.0 ({source}), but the cluster runs v1.33.1" in message
    # A template that names no version is taken as it is.
    assert prepare_text(host, fleet.text(fleet.with_config(template="custom-image"))).outputs["template"] == "/dc1/vm/templates/custom-image"


def test_a_virtual_machine_is_not_a_template(host, vcenter, fleet):
    message = failure(host, fleet.text(fleet.with_config(template="jumpbox")))
    assert "vsphere.template '/dc1/vm/jumpbox' is a virtual machine, not a template" in message
    assert "govc vm.markastemplate" in message


def test_a_template_given_by_instance_uuid_is_found_by_it(host, vcenter, fleet):
    entity = vcenter.inventory.at(f"/dc1/vm/templates/{TEMPLATE}")
    result = prepare_text(host, fleet.text(fleet.with_config(template=entity.instance_uuid)))
    assert result.outputs["template"] == entity.instance_uuid  # CAPV finds it by the UUID too
    assert "FindByUuid" in vcenter.calls

    again(vcenter)
    message = failure(host, fleet.text(fleet.with_config(template="4c4c4544-0000-0000-0000-000000000000")))
    assert "is an instance UUID, and no VM in datacenter /dc1 has it" in message


# -- the folder and the resource pool ----------------------------------------------------------


def test_clusters_of_one_environment_prepared_at_once_make_the_folder_and_pool_once(host, vcenter, fleet):
    document = yaml.safe_load(fleet.text())
    second = copy.deepcopy(document["clusters"][0])
    second["name"] = "web-2"
    document["clusters"].append(second)
    both = fleet_clusters(host, yaml.safe_dump(document))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: prepared(host, c), both))

    assert vcenter.mutating() == ["CreateFolder", "CreateResourcePool"]
    assert vcenter.calls.count("Login") == 1 and vcenter.calls.count("CreateContainerView") == 1
    lines = results[0].actions + results[1].actions
    assert sorted(lines) == sorted(CREATED), "each change is reported once, by the cluster that made it"
    assert results[0].outputs == results[1].outputs


def test_each_environment_gets_its_own_folder_and_pool(host, vcenter, fleet):
    text = yaml.safe_dump(
        {
            "apiVersion": "dokaseca.io/v1alpha1",
            "kind": "Fleet",
            "metadata": {"name": "acme"},
            "defaults": {"kubernetesVersion": "v1.33.1", "vsphere": {k: v for k, v in fleet.with_config().items() if k != "resourcePool"}},
            "environments": {
                "dev": {"vsphere": {"resourcePool": "cluster1/Resources/dev", "folder": "k8s/dev"}},
                "prod": {"vsphere": {"resourcePool": "cluster1/Resources/prod", "folder": "k8s/prod"}},
            },
            "clusters": [
                {"name": "web-1", "environment": "dev", "provider": "vsphere"},
                {"name": "web-2", "environment": "prod", "provider": "vsphere"},
            ],
        }
    )
    dev, prod = (prepared(host, c) for c in fleet_clusters(host, text))

    assert dev.actions == (
        "create VM folder /dc1/vm/k8s",
        "create VM folder /dc1/vm/k8s/dev",
        "create resource pool /dc1/host/cluster1/Resources/dev",
    )
    assert prod.actions == ("create VM folder /dc1/vm/k8s/prod", "create resource pool /dc1/host/cluster1/Resources/prod")
    assert (dev.outputs["folder"], prod.outputs["folder"]) == ("/dc1/vm/k8s/dev", "/dc1/vm/k8s/prod")
    assert vcenter.inventory.paths("Folder").count("/dc1/vm/k8s") == 1


def test_an_existing_folder_and_pool_are_used_as_they_are(host, vcenter, fleet):
    inventory = vcenter.inventory
    inventory.pool(inventory.at("/dc1/host/cluster1/Resources").moid, "shared")
    config = fleet.with_config(folder="templates", resourcePool="shared")  # names, found at any depth
    result = prepare_text(host, fleet.text(config))
    assert (result.outputs["folder"], result.outputs["resource_pool"]) == ("/dc1/vm/templates", "/dc1/host/cluster1/Resources/shared")
    assert result.actions == () and vcenter.mutating() == []


def test_a_pool_named_without_a_path_goes_under_the_only_cluster(host, vcenter, fleet):
    result = prepare_text(host, fleet.text(fleet.with_config(resourcePool="k8s")))
    assert result.outputs["resource_pool"] == "/dc1/host/cluster1/Resources/k8s"

    inventory = example_inventory()
    inventory.cluster(inventory.existing_datacenter("/dc1"), "cluster2")
    vcenter.reset(inventory)
    again(vcenter)
    message = failure(host, fleet.text(fleet.with_config(resourcePool="k8s")))
    assert "vsphere.resourcePool 'k8s' is a name, and the datacenter has 2 clusters and hosts" in message
    assert "'<cluster>/Resources/k8s'" in message


def test_without_a_pool_capv_needs_the_only_cluster(host, vcenter, fleet):
    config = {k: v for k, v in fleet.with_config().items() if k != "resourcePool"}
    assert prepare_text(host, fleet.text(config)).outputs["resource_pool"] == "/dc1/host/cluster1/Resources"

    inventory = example_inventory()
    inventory.cluster(inventory.existing_datacenter("/dc1"), "cluster2")
    vcenter.reset(inventory)
    again(vcenter)
    message = failure(host, fleet.text(config))
    assert "vsphere.resourcePool is not set, and /dc1/host holds 2 clusters or hosts ('/dc1/host/cluster1', '/dc1/host/cluster2')" in message


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"folder": "jumpbox/k8s"}, "/dc1/vm/jumpbox is a VirtualMachine, and a VM folder can only be made inside a VM folder"),
        ({"resourcePool": "cluster1/k8s"}, "/dc1/host/cluster1 is a ClusterComputeResource, and a resource pool can only be made inside"),
        ({"folder": "/dc1/datastore/k8s"}, "is not under /dc1/vm"),
        ({"folder": "k8s-*"}, "a pattern cannot be made"),
    ],
)
def test_a_folder_or_pool_that_cannot_be_made_there_is_refused_before_anything_is_made(host, vcenter, fleet, changes, fragment):
    message = failure(host, fleet.text(fleet.with_config(**changes)))
    assert fragment in message
    assert vcenter.mutating() == []


def test_a_folder_another_process_made_meanwhile_counts_as_made(host, vcenter, fleet):
    prepare_text(host, fleet.text(), dry_run=True)  # reads the inventory, before the other process
    vcenter.inventory.folder(vcenter.inventory.at("/dc1/vm").moid, "acme-dev")

    result = prepare_text(host, fleet.text())  # same process: the inventory it read is stale

    assert vcenter.mutating() == ["CreateFolder", "CreateResourcePool"]  # the first answered DuplicateName
    assert result.outputs["folder"] == FOLDER
    assert vcenter.inventory.paths("Folder").count(FOLDER) == 1


def test_names_with_a_slash_are_found_as_vcenter_writes_them_and_made_once(host, vcenter, fleet):
    """vCenter's ``name`` is already escaped (``a/b`` is ``a%2fb``), as govc and CAPV show it."""
    vcenter.inventory.network(vcenter.inventory.existing_datacenter("/dc1"), "VLAN 10/24")
    config = fleet.with_config(network="VLAN 10%2f24", folder="team%2fa")
    first = prepare_text(host, fleet.text(config))
    assert first.outputs["network"] == "/dc1/network/VLAN 10%2f24"
    assert first.outputs["folder"] == "/dc1/vm/team%2fa" and vcenter.inventory.paths("Folder").count("/dc1/vm/team%2fa") == 1

    again(vcenter)
    second = prepare_text(host, fleet.text(config))
    assert second.actions == () and vcenter.mutating() == []


# -- crash safety ----------------------------------------------------------------------------


def placement_state(vcenter) -> dict[str, list]:
    """Every folder and resource pool by path (a duplicate shows twice), pools with their allocation."""
    inventory = vcenter.inventory
    pools = [e for e in inventory.entities.values() if e.type == "ResourcePool"]
    return {
        "folders": inventory.paths("Folder"),
        "pools": sorted(([inventory.path(e.moid), e.spec] for e in pools), key=lambda pool: pool[0]),
    }


def made(state: dict[str, list]) -> set[str]:
    return set(state["folders"]) | {path for path, _ in state["pools"]}


@pytest.mark.parametrize(
    "operation, nth, held, forward",
    [
        ("CreateFolder", 2, "CreateFolder dev", False),  # the call never reached vCenter
        ("CreateResourcePool", 1, "CreateResourcePool k8s", True),  # vCenter made the pool; the answer never reached the client
    ],
)
def test_a_run_killed_half_way_is_finished_by_the_next(host, vcenter, fleet, tmp_path, operation, nth, held, forward):
    text = fleet.text(fleet.with_config(folder="k8s/dev/web", resourcePool="cluster1/Resources/k8s/dev"))  # 3 folders, 2 pools
    before = placement_state(vcenter)
    clean = prepare_text(host, text)
    clean_state, mutating = placement_state(vcenter), vcenter.mutating()
    k = [i for i, call in enumerate(mutating, start=1) if call == operation][nth - 1]
    vcenter.reset(example_inventory())
    forget()

    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(text)
    log = tmp_path / "prepare.log"
    hold = vcenter.pacing.hold_at(k, forward=forward)
    command = [sys.executable, "-m", "dokaseca", "prepare", str(fleet_file), "--state-dir", str(tmp_path / "state")]
    environment = {name: value for name, value in os.environ.items() if not name.startswith("DOKASECA_")}  # every plugin
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        reached = hold.reached.wait(30)
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait()
        hold.release()
    assert reached, f"the run never got to the call to hold:\n{log.read_text()}"
    assert hold.what == held
    half = placement_state(vcenter)
    assert made(before) < made(half) < made(clean_state)
    assert len(made(half) - made(before)) == (k if forward else k - 1), "what vCenter was asked before the kill, and no more"

    again(vcenter)
    plan = prepare_text(host, text, dry_run=True)
    assert vcenter.mutating() == []
    again(vcenter)
    rerun = prepare_text(host, text)

    assert rerun.actions == plan.actions and 0 < len(rerun.actions) < len(mutating)
    assert len(vcenter.mutating()) == len(rerun.actions), "nothing is made twice, not even to be told DuplicateName"
    assert placement_state(vcenter) == clean_state
    assert rerun.outputs == clean.outputs


def test_a_missing_privilege_is_named(host, vcenter, fleet):
    vcenter.denied["CreateResourcePool"] = "Resource.CreatePool"
    message = failure(host, fleet.text())
    assert "denied the privilege Resource.CreatePool on resgroup-" in message and "README" in message


# -- credentials and TLS ----------------------------------------------------------------------


def test_a_wrong_password_is_refused_naming_the_user_and_where_it_came_from(host, vcenter, fleet, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("VSPHERE_PASSWORD", "Wr0ng-pa55word-kept-secret")

    message = failure(host, fleet.text())

    assert message == (
        f"cluster web-1: vCenter {vcenter.server} refused the login of {USER!r} (from VSPHERE_USERNAME/VSPHERE_PASSWORD): "
        "incorrect user name or password; check VSPHERE_USERNAME/VSPHERE_PASSWORD"
    )
    assert vcenter.calls == ["RetrieveServiceContent", "Login"]  # the real InvalidLogin fault
    assert USER in caplog.text  # the debug log says who logs in ...
    for secret in ("Wr0ng-pa55word-kept-secret", PASSWORD):  # ... and never with what
        assert secret not in message and secret not in caplog.text


def test_credentials_come_from_govc_variables_or_a_file(host, vcenter, fleet, monkeypatch, tmp_path):
    monkeypatch.delenv("VSPHERE_USERNAME")
    monkeypatch.delenv("VSPHERE_PASSWORD")
    message = failure(host, fleet.text())
    assert "no vCenter credentials; export VSPHERE_USERNAME and VSPHERE_PASSWORD" in message and "vsphere.credentialsFile" in message
    assert vcenter.calls == [], "nothing is sent without credentials"

    monkeypatch.setenv("GOVC_USERNAME", USER)
    monkeypatch.setenv("GOVC_PASSWORD", PASSWORD)
    assert prepare_text(host, fleet.text()).outputs["datacenter"] == "/dc1"

    again(vcenter)
    monkeypatch.delenv("GOVC_PASSWORD")
    secrets = tmp_path / "vcenter.yaml"
    secrets.write_text(yaml.safe_dump({"username": USER, "password": PASSWORD}))
    assert prepare_text(host, fleet.text(fleet.with_config(credentialsFile=str(secrets)))).outputs["datacenter"] == "/dc1"

    again(vcenter)
    secrets.write_text(f"username: {USER}\npassword: [{PASSWORD}\n")
    message = failure(host, fleet.text(fleet.with_config(credentialsFile=str(secrets))))
    assert "is not valid YAML (line" in message and PASSWORD not in message


def test_a_pinned_thumbprint_is_the_only_certificate_accepted(host, vcenter, fleet):
    pinned = {k: v for k, v in fleet.with_config(thumbprint=vcenter.thumbprint).items() if k != "caFile"}
    assert prepare_text(host, fleet.text(pinned)).outputs["datacenter"] == "/dc1"

    sha256 = _sha256(vcenter.port)
    again(vcenter)
    assert prepare_text(host, fleet.text({**pinned, "thumbprint": sha256})).outputs["datacenter"] == "/dc1"

    again(vcenter)
    other = "AB:" * 19 + "CD"
    message = failure(host, fleet.text({**pinned, "thumbprint": other, "caFile": vcenter.ca_file}))
    assert f"presents a certificate whose SHA-1 thumbprint is {vcenter.thumbprint}, not vsphere.thumbprint {other}" in message
    assert "set vsphere.thumbprint to it" in message
    assert vcenter.calls == [], "a pin that does not match stops everything, even with a trusted CA"


@pytest.mark.parametrize("right", [True, False])
def test_the_pin_is_checked_on_every_connection_not_only_the_first(vcenter, right):
    """pyVmomi opens its later connections with the SSL context it was given: the pinned one checks each."""
    pin = (vcenter.thumbprint if right else "AB:" * 19 + "CD").replace(":", "").lower()
    context = PinnedContext.pinned(pin)
    for _ in range(2):
        connection = http.client.HTTPSConnection("127.0.0.1", vcenter.port, context=context, timeout=5)
        try:
            if right:
                connection.request("GET", "/sdk/vimServiceVersions.xml")
                assert connection.getresponse().status == 200
            else:
                with pytest.raises(ThumbprintMismatch):
                    connection.request("GET", "/sdk/vimServiceVersions.xml")
        finally:
            connection.close()


def test_an_untrusted_certificate_is_refused_showing_its_thumbprint(host, vcenter, fleet, monkeypatch):
    untrusted = {k: v for k, v in fleet.with_config().items() if k != "caFile"}
    message = failure(host, fleet.text(untrusted))
    assert "presents a certificate this machine does not trust (unable to get local issuer certificate)" in message
    assert f"its SHA-1 thumbprint is {vcenter.thumbprint}" in message and "vsphere.caFile" in message
    assert vcenter.calls == [], "no credential goes to a server that is not trusted"

    monkeypatch.setenv("SSL_CERT_FILE", vcenter.ca_file)  # the system's trust, pointed elsewhere
    again(vcenter)
    assert prepare_text(host, fleet.text(untrusted)).outputs["datacenter"] == "/dc1"


def test_a_certificate_for_another_name_asks_for_the_name_not_a_ca(host, vcenter, fleet):
    """Its CA is trusted (caFile), but the certificate names 127.0.0.1 and localhost, not 127.1."""
    message = failure(host, fleet.text(fleet.with_config(server=f"127.1:{vcenter.port}")))
    assert f"vCenter 127.1:{vcenter.port} presents a certificate that is not for '127.1'" in message
    assert "set vsphere.server to the name its certificate is for" in message and "caFile" not in message
    assert f"its SHA-1 thumbprint is {vcenter.thumbprint}" in message
    assert vcenter.calls == [], "no credential goes to a server that is not trusted"


def test_a_ca_file_that_cannot_be_read_is_named(host, vcenter, fleet, tmp_path):
    message = failure(host, fleet.text(fleet.with_config(caFile=str(tmp_path / "missing.pem"))))
    assert "vsphere.caFile" in message and "missing.pem" in message and "No such file or directory" in message


def test_an_unreachable_vcenter_is_named_with_the_fix(host, vcenter, fleet):
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed = spare.getsockname()[1]
    message = failure(host, fleet.text(fleet.with_config(server=f"127.0.0.1:{closed}")))
    assert message == (
        f"cluster web-1: vCenter 127.0.0.1:{closed} cannot be reached (Connection refused); check vsphere.server, "
        f"and that this machine reaches it on port {closed} (DNS, a firewall, a proxy)"
    )


def _sha256(port: int) -> str:
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def test_the_fleet_file_never_holds_credentials(host, fleet):
    """The config has no place for them: a password in the block is an unknown key."""
    problems = fleet.problems(host, fleet.with_config(password=PASSWORD))
    assert "unknown key(s) 'password'" in problems["clusters[0].vsphere"] and PASSWORD not in str(problems)
