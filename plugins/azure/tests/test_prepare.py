"""``prepare`` against an HTTPS Resource Manager on loopback, through the real
Azure SDK: azure-identity signs in to the stand-in's token endpoint as a
service principal, the management clients call its ARM API (see
tests/support/azure_stand_in.py).

Clusters come from fleet files through the real loader and plugin host; a
run killed half-way is the real CLI in a process of its own.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml
from azure_stand_in import CLIENT_SECRET, SUBSCRIPTION_ID, TENANT_ID, AzureStandIn, label

from dokaseca.errors import ProviderError
from dokaseca.progress import reporting
from dokaseca.testing import OneClusterFleet, fleet_clusters, prepare_text, prepared

import dokaseca_azure.plugin
from dokaseca_azure.prepare import forget
from dokaseca_azure.session import endpoint_of

CLIENT_ID = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a"  # CAPZ's identity, not the one prepare signs in with
VNET = "acme-dev"  # <fleet>-<environment>
VNET_ID = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{VNET}/providers/Microsoft.Network/virtualNetworks/{VNET}"

pytestmark = pytest.mark.usefixtures("azure")


@pytest.fixture
def host(plugin_host):
    return plugin_host(("azure", dokaseca_azure.plugin))


@pytest.fixture
def fleet(azure) -> OneClusterFleet:
    base = {
        "subscriptionId": SUBSCRIPTION_ID,
        "identity": {"clientId": CLIENT_ID, "tenantId": TENANT_ID},
        "resourceManagerEndpoint": azure.url,
        "network": {"create": True},
    }
    return OneClusterFleet("azure", base, name="web-1", environment="dev", region="westeurope")


def again(azure) -> None:
    """As a new process would: nothing remembered, fresh call records."""
    forget()
    azure.clear_calls()


def methods(calls: list[tuple[str, str]]) -> set[str]:
    return {method for method, _ in calls}


# -- a first run, a second run, a dry run -------------------------------------


def test_first_run_makes_the_group_and_the_shared_network_tagged_as_they_are_made(host, azure, fleet):
    said: list[str] = []
    with reporting(said.append):
        result = prepare_text(host, fleet.text())

    outputs = result.outputs
    assert (outputs["subscription_id"], outputs["tenant_id"], outputs["location"]) == (SUBSCRIPTION_ID, TENANT_ID, "westeurope")
    assert outputs["resource_group"] == "web-1"  # CAPZ's default: the cluster's name
    assert (outputs["vnet_name"], outputs["vnet_resource_group"]) == (VNET, VNET)
    assert outputs["subnets"] == [
        {"name": "control-plane-subnet", "role": "control-plane", "id": f"{VNET_ID}/subnets/control-plane-subnet", "cidr": "10.0.0.0/16"},
        {"name": "node-subnet", "role": "node", "id": f"{VNET_ID}/subnets/node-subnet", "cidr": "10.1.0.0/16"},
    ]
    assert result.actions == (
        "create resource group web-1 in westeurope",
        "create resource group acme-dev in westeurope",
        "create vnet acme-dev 10.0.0.0/8 in acme-dev with subnets control-plane-subnet 10.0.0.0/16; node-subnet 10.1.0.0/16",
    )

    group = azure.groups["web-1"]
    assert group["location"] == "westeurope"
    assert group["tags"] == {
        "dokaseca.io/fleet": "acme",
        "dokaseca.io/environment": "dev",
        "dokaseca.io/cluster": "web-1",
        "dokaseca.io/managed-by": "dokaseca",
    }
    vnet = azure.vnet(VNET, VNET)
    assert vnet["tags"] == {"dokaseca.io/fleet": "acme", "dokaseca.io/environment": "dev", "dokaseca.io/managed-by": "dokaseca"}
    assert vnet["properties"]["addressSpace"]["addressPrefixes"] == ["10.0.0.0/8"]
    assert vnet["properties"]["provisioningState"] == "Succeeded"
    assert {s["name"]: s["properties"]["addressPrefix"] for s in vnet["subnets"].values()} == {
        "control-plane-subnet": "10.0.0.0/16",
        "node-subnet": "10.1.0.0/16",
    }
    # Tags went with the creating calls: three PUTs, nothing tagged afterwards.
    assert [path.rsplit("/", 1)[-1] for _, path in azure.mutating()] == ["web-1", "acme-dev", "acme-dev"]
    # The vnet's long-running operation was followed to its end, and the user told so.
    polls = [path for method, path in azure.arm_calls() if "/operations/" in path]
    assert len(polls) == azure.lro_polls + 1
    assert "waiting for vnet acme-dev" in said


def test_a_second_run_makes_no_mutating_call(host, azure, fleet):
    first = prepare_text(host, fleet.text())
    again(azure)

    second = prepare_text(host, fleet.text())

    assert second.actions == ()
    assert azure.arm_calls() and azure.mutating() == []
    assert second.outputs == first.outputs


def test_a_dry_run_reads_only_and_lists_exactly_what_the_real_run_then_does(host, azure, fleet):
    text = fleet.text(fleet.with_config(addonIdentities={"external_dns": {}}, serviceAccountIssuer="https://issuer.example/web-1"))
    planned = prepare_text(host, text, dry_run=True)

    assert azure.mutating() == [] and methods(azure.arm_calls()) <= {"GET", "HEAD"}
    assert azure.groups == {} and azure.vnets == {} and azure.identities == {}
    again(azure)
    done = prepare_text(host, text)
    assert planned.actions == done.actions
    assert len(azure.mutating()) == len(done.actions) == 5
    # Names and ids are Azure's own, known before anything exists; only what Azure assigns is not.
    assert {k: v for k, v in planned.outputs.items() if k != "addon_identities"} == {
        k: v for k, v in done.outputs.items() if k != "addon_identities"
    }
    assert "client_id" not in planned.outputs["addon_identities"]["external_dns"]


def test_a_subnet_missing_from_our_vnet_is_added_and_nothing_else_changes(host, azure, fleet):
    prepare_text(host, fleet.text())
    with azure.lock:
        del azure.vnets[VNET.lower(), VNET.lower()]["subnets"]["node-subnet"]
    again(azure)

    result = prepare_text(host, fleet.text())

    assert result.actions == ("create subnet node-subnet 10.1.0.0/16 in vnet acme-dev",)
    assert [m for m, _ in azure.mutating()] == ["PUT"]
    assert result.outputs["subnets"][1]["id"] == f"{VNET_ID}/subnets/node-subnet"
    assert "node-subnet" in azure.vnet(VNET, VNET)["subnets"]


def test_a_vnet_still_being_made_is_waited_for_and_left_alone(host, azure, fleet):
    prepare_text(host, fleet.text())
    azure.set_vnet_state(VNET, VNET, "Updating", until_gets=3)  # a killed run's vnet, Azure still at it
    again(azure)
    said = []

    with reporting(said.append):
        result = prepare_text(host, fleet.text())

    assert result.actions == () and azure.mutating() == []
    assert [path for _, path in azure.arm_calls()].count(VNET_ID) == 3  # looked at until it settled
    assert any(line.startswith("waiting for vnet acme-dev: Updating") for line in said)


def test_a_vnet_whose_last_operation_failed_is_put_again_as_it_is(host, azure, fleet):
    prepare_text(host, fleet.text())
    azure.set_vnet_state(VNET, VNET, "Failed")
    again(azure)

    planned = prepare_text(host, fleet.text(), dry_run=True)
    assert azure.mutating() == []
    again(azure)
    result = prepare_text(host, fleet.text())

    assert planned.actions == result.actions == ("put vnet acme-dev again (its last operation failed)",)
    assert [path.rsplit("/", 1)[-1] for _, path in azure.mutating()] == [VNET]
    vnet = azure.vnet(VNET, VNET)
    assert vnet["properties"]["provisioningState"] == "Succeeded"
    assert sorted(vnet["subnets"]) == ["control-plane-subnet", "node-subnet"], "every subnet kept"
    again(azure)
    assert prepare_text(host, fleet.text()).actions == ()


def test_a_subnet_still_being_made_is_waited_for_and_one_that_failed_is_put_again(host, azure, fleet):
    prepare_text(host, fleet.text())
    azure.set_subnet_state(VNET, VNET, "control-plane-subnet", "Updating", until_gets=1)
    azure.set_subnet_state(VNET, VNET, "node-subnet", "Failed")
    again(azure)

    planned = prepare_text(host, fleet.text(), dry_run=True)
    assert azure.mutating() == []
    azure.set_subnet_state(VNET, VNET, "control-plane-subnet", "Updating", until_gets=1)
    again(azure)
    result = prepare_text(host, fleet.text())

    assert planned.actions == result.actions == ("put subnet node-subnet of vnet acme-dev again (its last operation failed)",)
    assert [path for _, path in azure.mutating()] == [f"{VNET_ID}/subnets/node-subnet"]
    subnets = azure.vnet(VNET, VNET)["subnets"]
    assert {name: s["properties"]["provisioningState"] for name, s in subnets.items()} == {
        "control-plane-subnet": "Succeeded",
        "node-subnet": "Succeeded",
    }
    assert subnets["node-subnet"]["properties"]["addressPrefix"] == "10.1.0.0/16", "put again as it was"


# -- a run killed half-way ------------------------------------------------------------


def azure_state(azure: AzureStandIn) -> dict[str, Any]:
    """What prepare leaves in Azure, by name: what it set, not what Azure assigns (ids, etags)."""
    with azure.lock:
        return {
            "groups": {name: (g["location"], g["tags"]) for name, g in azure.groups.items()},
            "vnets": {
                key: (
                    v["location"],
                    v["tags"],
                    v["properties"]["addressSpace"],
                    v["properties"]["provisioningState"],
                    {s: (sub["properties"]["addressPrefix"], sub["properties"]["provisioningState"]) for s, sub in v["subnets"].items()},
                )
                for key, v in azure.vnets.items()
            },
            "identities": {key: (i["location"], i["tags"]) for key, i in azure.identities.items()},
            "federated": {key: f["properties"] for key, f in azure.federated.items()},
        }


@pytest.mark.parametrize(
    "call, nth, forward",
    [
        ("PUT virtualNetworks/acme-dev", 1, False),  # the vnet's PUT never reached Azure
        ("PUT federatedIdentityCredentials/dokaseca", 1, True),  # Azure made the first credential; the answer was lost
    ],
)
def test_a_run_killed_half_way_is_finished_by_the_next(host, azure, fleet, tmp_path, call, nth, forward):
    config = fleet.with_config(
        addonIdentities={"cert_manager": {"namespace": "cert-manager"}, "external_dns": {}},
        serviceAccountIssuer="https://oidc.example.com/web-1",
    )
    text = fleet.text(config)
    prepare_text(host, text)
    clean, clean_calls = azure_state(azure), azure.mutating()
    k = [i for i, (method, path) in enumerate(clean_calls, start=1) if label(method, path) == call][nth - 1]
    assert 2 < k < len(clean_calls), "a call in the middle of the run"
    azure.reset()
    forget()

    fleet_file, state = tmp_path / "fleet.yaml", tmp_path / "state"
    fleet_file.write_text(text)
    hold = azure.pacing.hold_at(k, forward=forward)
    command = [sys.executable, "-m", "dokaseca", "prepare", str(fleet_file), "--state-dir", str(state)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # the fixture's AZURE_* environment
    try:
        assert hold.reached.wait(30), "the run never got to the call to hold"
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait()
        hold.release()
    assert hold.what == call
    killed = azure.mutating()
    assert killed == clean_calls[:k]
    half_made = azure_state(azure)
    assert half_made["groups"] == clean["groups"] and half_made != clean
    assert not (state / "web-1.prepared.json").exists(), "a killed run saves nothing"

    again(azure)
    plan = prepare_text(host, text, dry_run=True)
    assert azure.mutating() == []
    again(azure)
    rerun = prepare_text(host, text)

    assert rerun.actions == plan.actions and 0 < len(rerun.actions) < len(clean_calls)
    assert azure_state(azure) == clean
    # Nothing made twice, nothing left out: what the killed run got done and what the rerun did add up to the clean run.
    done_before = killed if forward else killed[:-1]
    assert sorted(done_before + azure.mutating()) == sorted(clean_calls)


# -- retries and concurrency ---------------------------------------------------------


def test_throttling_and_server_errors_are_retried_by_azure_core(host, azure, fleet):
    azure.fail_next(2, status=429, method="PUT", retry_after_ms=5)
    azure.fail_next(1, status=503, method="GET", path_contains="/operations/", retry_after_ms=None)

    result = prepare_text(host, fleet.text())

    puts = [path for method, path in azure.arm_calls() if method == "PUT"]
    assert puts.count(f"/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/web-1") == 3  # two 429s, then made
    assert azure.vnet(VNET, VNET)["properties"]["provisioningState"] == "Succeeded"
    assert result.outputs["vnet_name"] == VNET and len(result.actions) == 3


def two_clusters(fleet: OneClusterFleet, config: dict[str, Any] | None = None) -> str:
    text = yaml.safe_load(fleet.text(config))
    second = copy.deepcopy(text["clusters"][0])
    second["name"] = "web-2"
    text["clusters"].append(second)
    return yaml.safe_dump(text, sort_keys=False)


def test_clusters_prepared_at_once_share_the_network_and_make_it_once(host, azure, fleet):
    both = fleet_clusters(host, two_clusters(fleet, fleet.with_config(resourceGroupScope="environment")))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: prepared(host, c), both))

    assert results[0].outputs["resource_group"] == results[1].outputs["resource_group"] == "acme-dev"
    assert results[0].outputs["subnets"] == results[1].outputs["subnets"]
    puts = [path for method, path in azure.mutating()]
    assert len(puts) == 2 and len(set(puts)) == 2  # the environment's group and its vnet, once each
    assert sorted(results[0].actions + results[1].actions) == [
        "create resource group acme-dev in westeurope",
        "create vnet acme-dev 10.0.0.0/8 in acme-dev with subnets control-plane-subnet 10.0.0.0/16; node-subnet 10.1.0.0/16",
    ]


def test_clusters_sharing_a_vnet_must_agree_on_its_ranges(host, fleet):
    text = yaml.safe_load(two_clusters(fleet))
    text["clusters"][1]["azure"]["vnet"] = {"cidrBlocks": ["10.0.0.0/8"]}
    text["clusters"][1]["azure"]["subnets"] = {"node": {"cidrBlocks": ["10.2.0.0/16"]}}
    first, second = fleet_clusters(host, yaml.safe_dump(text))
    prepared(host, first)
    with pytest.raises(ProviderError) as caught:
        prepared(host, second)
    assert "cluster web-2: vnet 'acme-dev' is shared with a cluster that asks for other ranges" in str(caught.value)
    assert "(azure.subnets.node.cidrBlocks: 10.1.0.0/16 there, 10.2.0.0/16 here)" in str(caught.value)


def test_an_aks_cluster_gets_only_the_node_subnet_and_a_kubeadm_one_adds_its_control_plane_subnet(host, azure, fleet):
    network = {
        "network": {"create": True},
        "vnet": {"cidrBlocks": ["10.50.0.0/16"]},
        "subnets": {"controlPlane": {"cidrBlocks": ["10.50.0.0/24"]}, "node": {"cidrBlocks": ["10.50.1.0/24"]}},
    }
    text = yaml.safe_load(two_clusters(fleet, fleet.with_config(**network)))
    text["clusters"][0]["flavor"] = "aks"
    aks, kubeadm = fleet_clusters(host, yaml.safe_dump(text))

    first = prepared(host, aks)
    assert first.actions[-1] == "create vnet acme-dev 10.50.0.0/16 in acme-dev with subnets node-subnet 10.50.1.0/24"
    assert [s["role"] for s in first.outputs["subnets"]] == ["node"]
    second = prepared(host, kubeadm)
    assert second.actions == (
        "create resource group web-2 in westeurope",
        "create subnet control-plane-subnet 10.50.0.0/24 in vnet acme-dev",
    )
    assert [(s["role"], s["cidr"]) for s in second.outputs["subnets"]] == [("control-plane", "10.50.0.0/24"), ("node", "10.50.1.0/24")]
    assert set(azure.vnet(VNET, VNET)["subnets"]) == {"node-subnet", "control-plane-subnet"}


# -- checks before anything is made ----------------------------------------------------


def test_an_aks_version_not_offered_is_named_with_the_offered_ones(host, azure, fleet):
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text(flavor="aks", kubernetes_version="v1.31.2"))
    message = str(caught.value)
    assert message.startswith("cluster web-1: kubernetesVersion v1.31.2 is not offered by AKS in westeurope")
    assert "offered: 1.32.5, 1.32.6, 1.33.1, 1.33.2" in message and "az aks get-versions -l westeurope" in message
    assert azure.mutating() == [], "a fleet value that cannot work must not leave a group or a network behind"

    again(azure)
    assert prepare_text(host, fleet.text(flavor="aks", kubernetes_version="v1.33.2")).outputs["resource_group"] == "web-1"


def test_an_aks_version_offered_only_with_long_term_support_is_refused_with_why(host, azure, fleet):
    azure.aks_versions["1.29"] = ("1.29.15",)
    azure.aks_lts_only.add("1.29")

    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text(flavor="aks", kubernetes_version="v1.29.15"))

    message = str(caught.value)
    assert "v1.29.15 is offered by AKS in westeurope only with long-term support, which needs the Premium tier" in message
    assert "offered: 1.32.5, 1.32.6, 1.33.1, 1.33.2." in message, "versions CAPZ cannot use are not offered"
    assert azure.mutating() == []


def test_vm_sizes_not_offered_or_restricted_are_all_named_by_their_field(host, azure, fleet):
    azure.restricted_sizes["Standard_E4s_v5"] = "NotAvailableForSubscription"
    workers = [
        {"name": "general", "replicas": 2, "machineSize": "Standard_D4s_v9"},
        {"name": "mem", "replicas": 1, "machineSize": "Standard_E4s_v5"},
    ]
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text(workers=workers, controlPlane={"machineSize": "Standard_D2s_v5"}))
    message = str(caught.value)
    assert (
        "workers.general.machineSize 'Standard_D4s_v9' is not a VM size offered in westeurope; did you mean 'Standard_D4s_v5'?" in message
    )
    assert (
        f"workers.mem.machineSize 'Standard_E4s_v5' is not available to subscription {SUBSCRIPTION_ID} in westeurope"
        " (NotAvailableForSubscription)" in message
    )
    assert "controlPlane" not in message
    assert azure.mutating() == []


def test_a_vm_size_a_pool_s_zone_does_not_have_is_named_with_the_zones_it_is_in(host, azure, fleet):
    azure.size_zones["Standard_E4s_v5"] = ("1", "3")
    azure.size_zones["Standard_B2s"] = ()
    workers = [
        {"name": "memory", "replicas": 1, "machineSize": "Standard_E4s_v5", "failureDomain": "2"},
        {"name": "burst", "replicas": 1, "machineSize": "Standard_B2s", "failureDomain": "1"},
        {"name": "fine", "replicas": 1, "machineSize": "Standard_E4s_v5", "failureDomain": "3"},
    ]
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text(workers=workers))
    message = str(caught.value)
    assert "workers.memory.machineSize 'Standard_E4s_v5' is offered in westeurope only in zones 1, 3, not in zone 2" in message
    assert "workers.burst.machineSize 'Standard_B2s' is offered in westeurope in no zone (a regional size), not in zone 1" in message
    assert "workers.fine" not in message
    assert azure.mutating() == []


def test_a_vm_size_restricted_in_a_pool_s_zone_is_named_with_the_zone(host, azure, fleet):
    azure.zone_restricted_sizes["Standard_D4s_v5"] = ("2",)
    workers = [
        {"name": "zoned", "replicas": 1, "machineSize": "Standard_D4s_v5", "failureDomain": "2"},
        {"name": "elsewhere", "replicas": 1, "machineSize": "Standard_D4s_v5", "failureDomain": "1"},
    ]
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text(workers=workers))
    message = str(caught.value)
    assert (
        "workers.zoned.machineSize 'Standard_D4s_v5' is not available to this subscription in zone 2 of westeurope"
        " (NotAvailableForSubscription)" in message
    )
    assert "workers.elsewhere" not in message
    assert azure.mutating() == []


def test_the_default_vm_size_is_named_as_azure_vm_size(host, fleet):
    with pytest.raises(ProviderError, match=r"azure.vmSize 'Standard_F2s_v9' is not a VM size offered in westeurope"):
        prepare_text(host, fleet.text(fleet.with_config(vmSize="Standard_F2s_v9")))


def test_a_location_the_subscription_does_not_have_is_named(host, azure, fleet):
    with pytest.raises(ProviderError, match=r"region 'westeurop' is not a location of subscription .*did you mean 'westeurope'\?"):
        prepare_text(host, fleet.text(region="westeurop"))
    assert azure.mutating() == []


def test_an_existing_group_in_another_location_is_an_error_not_a_move(host, azure, fleet):
    azure.add_group("web-1", "northeurope")
    azure.clear_calls()
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text())
    assert (
        "resource group 'web-1' (the default of azure.resourceGroupScope: cluster) is in northeurope, but the cluster is in westeurope"
        in str(caught.value)
    )
    assert azure.mutating() == []


def test_a_shared_network_group_in_another_location_names_the_vnet_settings_as_the_fix(host, azure, fleet):
    azure.add_group(VNET, "northeurope")  # the environment's network group, made for clusters of another location
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text())
    message = str(caught.value)
    assert "resource group 'acme-dev' (the default of azure.vnet.resourceGroup) is in northeurope" in message
    assert "set azure.vnet.resourceGroup and azure.vnet.name to a network of their own" in message and "azure.resourceGroup)" not in message
    assert azure.vnets == {}


def test_an_identity_in_another_tenant_is_named_before_anything_is_made(host, azure, fleet):
    other = "11111111-2222-4333-8444-555555555555"
    with pytest.raises(ProviderError, match=f"azure.identity.tenantId {other} is not the tenant of subscription"):
        prepare_text(host, fleet.text(fleet.with_config(identity={"clientId": CLIENT_ID, "tenantId": other})))
    assert azure.mutating() == []


def test_without_a_subscription_prepare_says_where_to_set_it(host, azure, fleet):
    config = fleet.with_config()
    del config["subscriptionId"]
    with pytest.raises(ProviderError, match="no Azure subscription; set azure.subscriptionId, or export AZURE_SUBSCRIPTION_ID"):
        prepare_text(host, fleet.text(config))
    assert azure.arm_calls() == []


def test_the_subscription_can_come_from_the_environment(host, azure, fleet, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION_ID)
    config = fleet.with_config()
    del config["subscriptionId"]
    assert prepare_text(host, fleet.text(config), dry_run=True).outputs["subscription_id"] == SUBSCRIPTION_ID


# -- credentials and errors ---------------------------------------------------------------


def test_missing_credentials_say_what_was_tried_and_how_to_fix_it(host, azure, fleet, monkeypatch):
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name)
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text())
    message = str(caught.value)
    assert message.startswith("cluster web-1: no usable Azure credentials; DefaultAzureCredential tried EnvironmentCredential")
    assert all(source in message for source in ("WorkloadIdentityCredential", "ManagedIdentityCredential", "AzureCliCredential"))
    assert "AZURE_CLIENT_SECRET" in message and "az login" in message
    assert azure.arm_calls() == []


def test_a_wrong_secret_is_reported_without_the_secret(host, azure, fleet, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret-Qy7")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text())
    message = str(caught.value)
    assert "no usable Azure credentials" in message and "EnvironmentCredential" in message
    assert "not-the-secret-Qy7" not in message
    assert azure.arm_calls() == []


def test_an_azure_error_names_cluster_call_and_code_and_never_a_token_or_secret(host, azure, fleet):
    prepare_text(host, fleet.text(), dry_run=True)  # signs in: the stand-in has issued a token
    token = azure.tokens_issued[-1]
    leak = f"Client with secret {CLIENT_SECRET} and token {token} (Bearer {token}) may not"
    azure.fail_next(1, status=403, method="PUT", code="AuthorizationFailed", message=leak)

    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text())

    message = str(caught.value)
    assert message.startswith("cluster web-1: Azure PUT resourcegroups/web-1 failed: AuthorizationFailed: Client with secret <redacted>")
    assert CLIENT_SECRET not in message and token not in message
    assert "README" in message


def test_resource_manager_refusing_the_token_is_not_taken_for_missing_credentials(host, azure, fleet):
    azure.fail_next(1, status=401, code="InvalidAuthenticationToken", message="The access token is invalid.", retry_after_ms=None)
    with pytest.raises(ProviderError, match=r"Azure GET subscription failed: InvalidAuthenticationToken: .*not accepted"):
        prepare_text(host, fleet.text())


def test_a_long_running_operation_that_fails_is_named_with_azure_s_reason(host, azure, fleet):
    azure.failing_operations.append(("NetcfgInvalidSubnet", "Subnet node-subnet is not valid in its Virtual Network."))
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text())
    assert str(caught.value) == (
        "cluster web-1: Azure long-running operation for vnet acme-dev failed: "
        "NetcfgInvalidSubnet: Subnet node-subnet is not valid in its Virtual Network."
    )


def test_a_subscription_the_credentials_cannot_see_is_named(host, azure, fleet):
    other = "99999999-8888-4777-8666-555555555555"
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text(fleet.with_config(subscriptionId=other)))
    message = str(caught.value)
    assert message.startswith(
        f"cluster web-1: Azure GET subscription failed: SubscriptionNotFound: The subscription '{other}' could not be found"
    )
    assert "az account list" in message


@pytest.mark.parametrize(
    "cloud, endpoint, scope, authority",
    [
        ("AzurePublicCloud", "https://management.azure.com", "https://management.azure.com/.default", "login.microsoftonline.com"),
        (
            "AzureUSGovernmentCloud",
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net/.default",
            "login.microsoftonline.us",
        ),
        (
            "AzureChinaCloud",
            "https://management.chinacloudapi.cn",
            "https://management.chinacloudapi.cn/.default",
            "login.chinacloudapi.cn",
        ),
    ],
)
def test_a_named_cloud_gets_its_own_endpoint_scope_and_authority(host, fleet, monkeypatch, cloud, endpoint, scope, authority):
    monkeypatch.delenv("AZURE_AUTHORITY_HOST")
    config = fleet.with_config(cloud=cloud)
    del config["resourceManagerEndpoint"]
    (cluster,) = fleet_clusters(host, fleet.text(config))
    found = endpoint_of(cluster.provider_config)
    assert (found.url, found.scope, found.authority, found.custom) == (endpoint, scope, authority, False)


def test_importing_prepare_loads_no_azure_sdk():
    check = "import sys, dokaseca_azure.prepare; print(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.')))"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "[]"


# -- a network the fleet brings -----------------------------------------------------------


def own_vnet_config(fleet: OneClusterFleet, **subnets: Any) -> dict[str, Any]:
    config = fleet.with_config(vnet={"name": "shared", "resourceGroup": "networking"})
    del config["network"]
    if subnets:
        config["subnets"] = subnets
    return config


def test_a_vnet_the_fleet_brings_is_checked_and_never_changed(host, azure, fleet):
    azure.add_vnet(
        "networking", "shared", "westeurope", ["10.20.0.0/16"], {"control-plane-subnet": "10.20.0.0/24", "node-subnet": "10.20.1.0/24"}
    )
    azure.clear_calls()

    result = prepare_text(host, fleet.text(own_vnet_config(fleet)))

    assert (result.outputs["vnet_name"], result.outputs["vnet_resource_group"]) == ("shared", "networking")
    assert [(s["name"], s["cidr"]) for s in result.outputs["subnets"]] == [
        ("control-plane-subnet", "10.20.0.0/24"),
        ("node-subnet", "10.20.1.0/24"),
    ]
    assert [path for _, path in azure.mutating()] == [f"/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/web-1"]


@pytest.mark.parametrize(
    "subnets, message",
    [
        (
            {"node": {"name": "workers"}},
            "has no subnet 'workers' (azure.subnets.node.name; its subnets: control-plane-subnet, node-subnet)",
        ),
        (
            {"node": {"cidrBlocks": ["10.20.9.0/24"]}},
            "subnet 'node-subnet' has 10.20.1.0/24 but azure.subnets.node.cidrBlocks says 10.20.9.0/24",
        ),
    ],
)
def test_a_wrong_subnet_of_a_vnet_the_fleet_brings_is_named_before_anything_is_made(host, azure, fleet, subnets, message):
    azure.add_vnet(
        "networking", "shared", "westeurope", ["10.20.0.0/16"], {"control-plane-subnet": "10.20.0.0/24", "node-subnet": "10.20.1.0/24"}
    )
    azure.clear_calls()
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet.text(own_vnet_config(fleet, **subnets)))
    assert message in str(caught.value)
    assert azure.mutating() == [], "read-only checks come before anything is made"


def test_a_vnet_of_the_same_name_not_made_by_prepare_is_never_taken_over(host, azure, fleet):
    azure.add_vnet(VNET, VNET, "westeurope", ["10.0.0.0/8"], {})
    azure.clear_calls()
    with pytest.raises(ProviderError, match="vnet 'acme-dev' in resource group 'acme-dev' exists and was not made by dokaseca"):
        prepare_text(host, fleet.text())
    assert [m for m, p in azure.mutating() if "virtualnetworks" in p.lower()] == []


# -- addon identities ------------------------------------------------------------------------


def test_addon_identities_are_made_with_their_federated_credentials(host, azure, fleet):
    issuer = "https://oidc.example.com/web-1"
    config = fleet.with_config(
        addonIdentities={"external_dns": {}, "cert_manager": {"namespace": "cert-manager", "serviceAccount": "cm"}},
        serviceAccountIssuer=issuer,
    )
    result = prepare_text(host, fleet.text(config))

    made = {name: identity for (_, name), identity in azure.identities.items()}
    assert set(made) == {"web-1-external_dns", "web-1-cert_manager"}
    assert made["web-1-external_dns"]["tags"]["dokaseca.io/managed-by"] == "dokaseca"
    external_dns = result.outputs["addon_identities"]["external_dns"]
    assert external_dns == {
        "resource_id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/web-1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/web-1-external_dns",
        "namespace": "kube-system",
        "service_account": "external-dns",
        "client_id": made["web-1-external_dns"]["properties"]["clientId"],
        "principal_id": made["web-1-external_dns"]["properties"]["principalId"],
    }
    credential = azure.federated["web-1", "web-1-cert_manager", "dokaseca"]["properties"]
    assert credential == {"issuer": issuer, "subject": "system:serviceaccount:cert-manager:cm", "audiences": ["api://AzureADTokenExchange"]}

    again(azure)
    assert prepare_text(host, fleet.text(config)).actions == ()
    moved = fleet.with_config(
        addonIdentities={"external_dns": {"namespace": "dns"}, "cert_manager": {"namespace": "cert-manager", "serviceAccount": "cm"}},
        serviceAccountIssuer=issuer,
    )
    changed = prepare_text(host, fleet.text(moved))
    assert changed.actions == (
        f"update federated credential of managed identity web-1-external_dns: system:serviceaccount:dns:external-dns from {issuer}",
    )


def test_an_identity_of_the_same_name_not_made_by_prepare_is_never_taken_over(host, azure, fleet):
    prepare_text(host, fleet.text())
    with azure.lock:
        azure.identities["web-1", "web-1-external_dns"] = {
            "name": "web-1-external_dns",
            "tags": {},
            "location": "westeurope",
            "properties": {},
        }
    again(azure)
    with pytest.raises(
        ProviderError, match="managed identity 'web-1-external_dns' in resource group 'web-1' exists and was not made by dokaseca"
    ):
        prepare_text(host, fleet.text(fleet.with_config(addonIdentities={"external_dns": {}})))
    assert azure.mutating() == []


def test_no_secret_reaches_the_outputs_or_the_actions(host, azure, fleet):
    result = prepare_text(host, fleet.text(fleet.with_config(addonIdentities={"external_dns": {}})))
    text = repr(result)
    assert azure.tokens_issued, "prepare signed in"
    assert CLIENT_SECRET not in text and not any(token in text for token in azure.tokens_issued)
