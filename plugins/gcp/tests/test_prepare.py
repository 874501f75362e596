"""``prepare`` against a Google Cloud REST responder on loopback, through the real
Google client libraries (REST transport) and google-auth.

Clusters come from fleet files through the real loader and plugin host. The
credentials are a service-account key file found through
GOOGLE_APPLICATION_CREDENTIALS (Application Default Credentials); the API
endpoints are the fleet's own ``gcp.endpoints`` (see tests/support/gcp_stand_in.py).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml
from gcp_stand_in import PROJECT

from dokaseca.errors import ProviderError
from dokaseca.progress import reporting
from dokaseca.testing import fleet_clusters, fleet_problems, fleet_yaml, prepare_text, prepared

import dokaseca_gcp.plugin
from dokaseca_gcp.prepare import forget

REGION = "europe-west1"
NETWORK = "acme-dev"  # <fleet>-<environment>
ROUTER = f"{NETWORK}-{REGION}"
SUBNETS = [{"name": "nodes", "cidrBlock": "10.10.0.0/20"}]
FIRST_RUN = (
    "create network acme-dev (custom mode)",
    "create subnet nodes 10.10.0.0/20 in europe-west1",
    "create firewall rule acme-dev-allow-internal",
    "create firewall rule acme-dev-allow-api-server",
    f"create Cloud Router {ROUTER} with Cloud NAT {ROUTER}",
)

pytestmark = pytest.mark.usefixtures("gcp")


@pytest.fixture
def host(plugin_host):
    return plugin_host(("gcp", dokaseca_gcp.plugin))


def block(gcp, **changes: Any) -> dict[str, Any]:
    """The cluster's ``gcp:`` block: the stand-in's endpoints, a network prepare makes."""
    config: dict[str, Any] = {"project": PROJECT, "endpoints": gcp.endpoints(), "network": {"create": True, "subnets": SUBNETS}}
    config.update(changes)
    return config


def fleet(gcp, config: dict[str, Any] | None = None, **cluster: Any) -> str:
    options = {"name": "web-1", "environment": "dev", "region": REGION, **cluster}
    return fleet_yaml("gcp", config or block(gcp), **options)


def again(gcp) -> None:
    """As a new process would: nothing remembered, fresh call records."""
    forget()
    gcp.clear_calls()


def network_state(gcp) -> dict[str, Any]:
    """What exists in the stand-in, without ids and links, so two runs compare."""

    def strip(resource):
        return {k: v for k, v in (resource or {}).items() if k not in ("id", "selfLink", "creationTimestamp")}

    return {
        "networks": {n: strip(gcp.resource("networks", n)) for n in gcp.names("networks")},
        "subnets": {n: strip(gcp.resource("subnetworks", n, region=REGION)) for n in gcp.names("subnetworks", region=REGION)},
        "firewalls": {n: strip(gcp.resource("firewalls", n)) for n in gcp.names("firewalls")},
        "routers": {n: strip(gcp.resource("routers", n, region=REGION)) for n in gcp.names("routers", region=REGION)},
    }


# -- a first run, a second run, a dry run -------------------------------------------


def test_first_run_makes_the_network_subnet_nat_and_firewall_rules(host, gcp):
    result = prepare_text(host, fleet(gcp))

    assert result.actions == FIRST_RUN
    assert result.outputs == {
        "project_id": PROJECT,
        "region": REGION,
        "network": NETWORK,
        "subnets": [{"name": "nodes", "region": REGION, "cidr": "10.10.0.0/20"}],
        "router": ROUTER,
        "nat": ROUTER,
    }
    network = gcp.resource("networks", NETWORK)
    assert network["autoCreateSubnetworks"] is False
    assert network["description"].startswith("dokaseca.io/network=acme-dev made by dokaseca for fleet acme, environment dev")
    subnet = gcp.resource("subnetworks", "nodes", region=REGION)
    assert (subnet["ipCidrRange"], subnet["privateIpGoogleAccess"]) == ("10.10.0.0/20", True)
    assert subnet["network"].endswith(f"/projects/{PROJECT}/global/networks/{NETWORK}")
    (nat,) = gcp.resource("routers", ROUTER, region=REGION)["nats"]
    assert nat == {"name": ROUTER, "natIpAllocateOption": "AUTO_ONLY", "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}
    internal = gcp.resource("firewalls", "acme-dev-allow-internal")
    assert (internal["sourceRanges"], internal["allowed"], internal["direction"]) == (["10.10.0.0/20"], [{"IPProtocol": "all"}], "INGRESS")
    api_server = gcp.resource("firewalls", "acme-dev-allow-api-server")
    assert api_server["sourceRanges"] == ["130.211.0.0/22", "35.191.0.0/16"]
    assert api_server["allowed"] == [{"IPProtocol": "tcp", "ports": ["6443"]}]
    # Every write was awaited through its operation, each polled where it lives.
    polls = [path for method, path in gcp.calls() if "/operations/" in path]
    assert len(polls) == 5 and sum("/regions/europe-west1/operations/" in p for p in polls) == 2


def test_a_second_run_makes_no_mutating_call(host, gcp):
    first = prepare_text(host, fleet(gcp))
    first_calls = gcp.calls()
    again(gcp)

    second = prepare_text(host, fleet(gcp))

    assert second.actions == () and second.outputs == first.outputs
    assert gcp.mutating() == []
    assert all(method == "GET" for method, _ in gcp.calls())
    # The figures the README gives: the first run's writes and polls, the second run's reads.
    assert (len(first_calls), len([c for c in first_calls if c[0] != "GET"]), len(gcp.calls())) == (16, 5, 6)


def test_a_dry_run_reads_only_and_lists_exactly_what_the_real_run_then_does(host, gcp):
    planned = prepare_text(host, fleet(gcp), dry_run=True)

    assert gcp.mutating() == [] and all(method == "GET" for method, _ in gcp.calls())
    assert gcp.names("networks") == [] and gcp.names("firewalls") == []
    again(gcp)
    done = prepare_text(host, fleet(gcp))
    assert planned.actions == done.actions == FIRST_RUN
    assert len(gcp.mutating()) == len(done.actions)


def test_drift_in_what_prepare_made_is_brought_back(host, gcp):
    prepare_text(host, fleet(gcp))
    clean = network_state(gcp)
    gcp.edit("subnetworks", "nodes", {"privateIpGoogleAccess": False}, region=REGION)
    gcp.edit("firewalls", "acme-dev-allow-api-server", {"sourceRanges": ["0.0.0.0/0"], "disabled": True})
    gcp.edit("routers", ROUTER, {"nats": []}, region=REGION)
    again(gcp)

    plan = prepare_text(host, fleet(gcp), dry_run=True)
    again(gcp)
    result = prepare_text(host, fleet(gcp))

    assert (
        result.actions
        == plan.actions
        == (
            "turn on Private Google Access in subnet nodes",
            "bring firewall rule acme-dev-allow-api-server back (sources, ports, enabled)",
            f"add Cloud NAT {ROUTER} to Cloud Router {ROUTER}",
        )
    )
    assert network_state(gcp) == clean


def test_a_subnet_added_later_is_made_and_let_through_the_internal_rule(host, gcp):
    prepare_text(host, fleet(gcp))
    again(gcp)
    more = block(gcp, network={"create": True, "subnets": [*SUBNETS, {"name": "more", "cidrBlock": "10.20.0.0/20"}]})

    result = prepare_text(host, fleet(gcp, more))

    assert result.actions == (
        "create subnet more 10.20.0.0/20 in europe-west1",
        "bring firewall rule acme-dev-allow-internal back (sources, ports, enabled)",
    )
    assert gcp.resource("firewalls", "acme-dev-allow-internal")["sourceRanges"] == ["10.10.0.0/20", "10.20.0.0/20"]


# -- operations, retries, concurrency ---------------------------------------------------


def test_a_running_operation_is_polled_until_done_and_reported(host, gcp):
    prepare_text(host, fleet(gcp))
    gcp.edit("subnetworks", "nodes", {"privateIpGoogleAccess": False}, region=REGION)
    again(gcp)
    gcp.state.polls_before_done = 3
    progress: list[str] = []

    with reporting(progress.append):
        prepare_text(host, fleet(gcp))

    polls = [path for _, path in gcp.calls() if "/regions/europe-west1/operations/" in path]
    assert len(polls) == 3 and len(set(polls)) == 1
    assert progress[0] == "waiting for subnet nodes"
    assert len(progress) == 3 and all(line.startswith("waiting for subnet nodes (") and line.endswith(" s)") for line in progress[1:])
    assert gcp.resource("subnetworks", "nodes", region=REGION)["privateIpGoogleAccess"] is True


def test_throttling_and_unavailable_answers_are_retried(host, gcp):
    gcp.fail_next(1, 429, method="GET", path_contains="/regions/europe-west1")
    gcp.fail_next(1, 503, method="POST", path_contains="/global/networks")

    result = prepare_text(host, fleet(gcp))

    calls = gcp.calls()
    assert calls.count(("GET", f"/compute/v1/projects/{PROJECT}/regions/{REGION}")) == 2
    assert calls.count(("POST", f"/compute/v1/projects/{PROJECT}/global/networks")) == 2
    assert gcp.names("networks") == [NETWORK] and result.actions == FIRST_RUN


def test_an_insert_whose_answer_was_lost_is_taken_as_done(host, gcp):
    """Google made the network but said 503; the retried insert gets 409 alreadyExists."""
    gcp.put("networks", {"name": NETWORK, "autoCreateSubnetworks": False, "description": f"dokaseca.io/network={NETWORK} made by dokaseca"})
    gcp.fail_next(1, 404, method="GET", path_contains="/global/networks/")  # the look-up before it raced

    result = prepare_text(host, fleet(gcp))

    assert result.actions == FIRST_RUN and gcp.names("networks") == [NETWORK]
    assert gcp.calls().count(("POST", f"/compute/v1/projects/{PROJECT}/global/networks")) == 1


def two_clusters(gcp) -> str:
    document = yaml.safe_load(fleet(gcp))
    second = copy.deepcopy(document["clusters"][0])
    second["name"] = "web-2"
    document["clusters"].append(second)
    return yaml.safe_dump(document, sort_keys=False)


def test_clusters_of_one_environment_prepared_at_once_share_one_network(host, gcp):
    both = fleet_clusters(host, two_clusters(gcp))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda cluster: prepared(host, cluster), both))

    assert results[0].outputs["network"] == results[1].outputs["network"] == NETWORK
    assert results[0].outputs["subnets"] == results[1].outputs["subnets"]
    assert gcp.calls().count(("POST", f"/compute/v1/projects/{PROJECT}/global/networks")) == 1
    assert len(gcp.mutating()) == len(FIRST_RUN)
    # Each change is reported once, by the cluster whose thread made it.
    assert sorted(results[0].actions + results[1].actions) == sorted(FIRST_RUN)


def test_clusters_sharing_a_network_must_agree_on_it(host, gcp):
    document = yaml.safe_load(two_clusters(gcp))
    document["clusters"][1]["gcp"]["network"]["subnets"] = [{"name": "nodes", "cidrBlock": "10.30.0.0/20"}]
    first, second = fleet_clusters(host, yaml.safe_dump(document))
    prepared(host, first)
    with pytest.raises(ProviderError, match="network 'acme-dev' is shared with a cluster that asks for other settings"):
        prepared(host, second)


# -- GKE -------------------------------------------------------------------------------


def gke(gcp, **changes: Any) -> dict[str, Any]:
    return block(gcp, network={"create": False, "name": "default"}, **changes)


def gke_fleet(gcp, config: dict[str, Any], version: str) -> str:
    """A regional GKE cluster: its pool spans the region's three zones."""
    return fleet(gcp, config, flavor="gke", kubernetes_version=version, workers=[{"name": "general", "replicas": 3}])


def test_a_gke_version_is_checked_against_the_release_channel(host, gcp):
    result = prepare_text(host, gke_fleet(gcp, gke(gcp, gke={"releaseChannel": "regular"}), "v1.33.5"))
    assert result.outputs["gke_version"] == "1.33.5-gke.1308000"
    assert ("GET", f"/v1/projects/{PROJECT}/locations/{REGION}/serverConfig") in gcp.calls()

    again(gcp)
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, gke_fleet(gcp, gke(gcp, gke={"releaseChannel": "regular"}), "v1.32.9"))
    message = str(caught.value)
    assert "kubernetesVersion v1.32.9 is not offered by GKE in europe-west1 on the regular channel" in message
    assert "valid now: v1.33.5, v1.33.4" in message and "gcp.gke.releaseChannel" in message
    assert gcp.mutating() == []


def test_without_a_channel_the_newest_build_of_a_valid_version_is_taken(host, gcp):
    result = prepare_text(host, gke_fleet(gcp, gke(gcp), "v1.33.5"))
    assert result.outputs["gke_version"] == "1.33.5-gke.1308000"

    again(gcp)
    with pytest.raises(
        ProviderError,
        match=r"kubernetesVersion v1.31.0 is not offered by GKE in europe-west1; valid now: v1.34.1, v1.33.5, v1.33.4, v1.32.9",
    ):
        prepare_text(host, gke_fleet(gcp, gke(gcp), "v1.31.0"))


def test_a_channel_gke_does_not_offer_there_is_named(host, gcp):
    with pytest.raises(
        ProviderError,
        match=r"gcp.gke.releaseChannel 'extended' is not a release channel GKE in europe-west1 offers; use one of: rapid, regular, stable",
    ):
        prepare_text(host, gke_fleet(gcp, gke(gcp, gke={"releaseChannel": "extended"}), "v1.33.5"))


# -- errors a user can act on ---------------------------------------------------------


def test_missing_credentials_say_how_to_fix_them(host, gcp, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet(gcp))
    message = str(caught.value)
    assert message.startswith("cluster web-1: no usable Google Cloud credentials")
    assert "gcloud auth application-default login" in message and "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert gcp.calls() == []


def test_credentials_google_refuses_are_named_with_the_fix_and_no_secret(host, gcp):
    gcp.state.refuse_refresh = True  # as for a deleted service-account key
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN]}))
    message = str(caught.value)
    assert message.startswith("cluster web-1: Google refused the credentials (invalid_grant: Invalid JWT Signature.)")
    assert "gcloud auth application-default login" in message
    assert "PRIVATE KEY" not in message and "eyJ" not in message
    assert gcp.mutating() == []


def test_a_google_error_names_cluster_call_and_message_and_never_a_secret(host, gcp):
    gcp.fail_next(1, 403, method="POST", path_contains="/global/networks")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet(gcp))
    message = str(caught.value)
    assert message.startswith(f"cluster web-1: Google Cloud POST /compute/v1/projects/{PROJECT}/global/networks failed: 403")
    assert "injected by the stand-in" in message and "gcloud services enable" in message
    assert "PRIVATE KEY" not in message and gcp.state.token not in message and "eyJ" not in message  # no key, token or JWT


def test_a_403_from_resource_manager_names_its_api_in_the_fix(host, gcp):
    """Project policies are Resource Manager's: the API to enable is cloudresourcemanager.googleapis.com."""
    gcp.fail_next(1, 403, method="POST", path_contains=f"/v3/projects/{PROJECT}:getIamPolicy")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN]}))
    message = str(caught.value)
    assert f"POST /v3/projects/{PROJECT}:getIamPolicy failed: 403" in message
    assert "cloudresourcemanager.googleapis.com" in message.split("gcloud services enable", 1)[1]


def test_an_operation_that_fails_is_reported_with_googles_reason(host, gcp):
    gcp.fail_operation("/global/networks")
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet(gcp))
    message = str(caught.value)
    assert "operation insert of" in message and f"/global/networks/{NETWORK} failed: 403" in message
    assert "Quota 'NETWORKS' exceeded." in message
    assert gcp.names("subnetworks", region=REGION) == [], "nothing after a failed step"


def test_a_region_the_project_lacks_or_a_zone_outside_it_is_named(host, gcp):
    with pytest.raises(
        ProviderError, match=r"region 'europe-west2' is not a Compute Engine region of project acme-web-dev; did you mean 'europe-west1'\?"
    ):
        prepare_text(host, fleet(gcp, region="europe-west2"))
    again(gcp)
    with pytest.raises(ProviderError, match=r"gcp.zones\[1\] 'europe-west1-a' is not a zone of europe-west1"):
        prepare_text(host, fleet(gcp, block(gcp, zones=["europe-west1-b", "europe-west1-a"])))
    assert gcp.mutating() == []


def test_a_network_without_a_subnet_in_the_clusters_region_is_refused_when_the_fleet_is_read(host, gcp):
    elsewhere = block(gcp, network={"create": True, "subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20", "region": "us-east1"}]})
    problem = fleet_problems(host, fleet(gcp, elsewhere))["clusters[0].gcp.network.subnets"]
    assert problem.message == "has no subnet in region 'europe-west1'"
    assert gcp.calls() == []


def test_a_network_of_that_name_not_made_by_dokaseca_is_never_taken_over(host, gcp):
    gcp.put("networks", {"name": NETWORK, "autoCreateSubnetworks": True, "description": "the platform team's"})
    with pytest.raises(ProviderError, match="network 'acme-dev' exists in project acme-web-dev and was not made by dokaseca"):
        prepare_text(host, fleet(gcp))
    assert gcp.mutating() == []


def test_a_firewall_rule_of_that_name_not_made_by_dokaseca_names_the_cluster_and_the_fix(host, gcp):
    gcp.put("firewalls", {"name": f"{NETWORK}-allow-internal", "network": f"projects/{PROJECT}/global/networks/legacy"})
    with pytest.raises(ProviderError) as caught:
        prepare_text(host, fleet(gcp))
    message = str(caught.value)
    assert message.startswith(f"cluster web-1: network '{NETWORK}': firewall rule '{NETWORK}-allow-internal' exists in project {PROJECT}")
    assert "gcp.network.name" in message
    assert gcp.mutating() == [] and gcp.names("networks") == []


def test_a_subnet_name_taken_in_another_network_stops_prepare_before_anything_is_made(host, gcp):
    gcp.put(
        "subnetworks",
        {"name": "nodes", "ipCidrRange": "10.10.0.0/20", "network": f"projects/{PROJECT}/global/networks/legacy"},
        region=REGION,
    )
    with pytest.raises(ProviderError, match=r"gcp.network.subnets\[0\] 'nodes' already exists in europe-west1 in network 'legacy'"):
        prepare_text(host, fleet(gcp))
    assert gcp.mutating() == [] and gcp.names("networks") == []


def test_importing_prepare_loads_no_google_library():
    check = "import sys, dokaseca_gcp.prepare; print(sorted(m for m in sys.modules if m.startswith('google')))"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "[]"


# -- a network the fleet brings -------------------------------------------------------


def own_network(gcp) -> None:
    gcp.put("networks", {"name": "shared", "autoCreateSubnetworks": False})
    gcp.put(
        "subnetworks",
        {"name": "nodes", "ipCidrRange": "10.40.0.0/20", "network": f"projects/{PROJECT}/global/networks/shared"},
        region=REGION,
    )
    gcp.put(
        "subnetworks",
        {"name": "stray", "ipCidrRange": "10.50.0.0/20", "network": f"projects/{PROJECT}/global/networks/other"},
        region=REGION,
    )


def test_a_network_the_fleet_brings_is_checked_and_never_changed(host, gcp):
    own_network(gcp)
    config = block(gcp, network={"name": "shared", "subnets": [{"name": "nodes", "cidrBlock": "10.40.0.0/20"}]})

    result = prepare_text(host, fleet(gcp, config))

    assert result.actions == () and gcp.mutating() == []
    assert (result.outputs["network"], result.outputs["subnets"]) == (
        "shared",
        [{"name": "nodes", "region": REGION, "cidr": "10.40.0.0/20"}],
    )


@pytest.mark.parametrize(
    "subnets, message",
    [
        (
            [{"name": "nodes", "cidrBlock": "10.41.0.0/20"}],
            "gcp.network.subnets[0].cidrBlock is 10.41.0.0/20 but subnet 'nodes' in europe-west1 has 10.40.0.0/20",
        ),
        (
            [{"name": "stray", "cidrBlock": "10.50.0.0/20"}],
            "gcp.network.subnets[0] 'stray' in europe-west1 belongs to network 'other', not 'shared'",
        ),
    ],
)
def test_a_subnet_the_fleet_brings_that_does_not_match_is_named(host, gcp, subnets, message):
    own_network(gcp)
    with pytest.raises(ProviderError, match=message.replace("[", r"\[").replace("]", r"\]")):
        prepare_text(host, fleet(gcp, block(gcp, network={"name": "shared", "subnets": subnets})))
    assert gcp.mutating() == []


def test_a_shared_vpc_network_must_exist_in_its_host_project(host, gcp):
    config = block(gcp, network={"name": "shared", "hostProject": "acme-network-hub"})
    with pytest.raises(ProviderError, match="gcp.network.name 'shared' is not a network in the Shared VPC host project acme-network-hub"):
        prepare_text(host, fleet(gcp, config))


# -- Workload Identity service accounts -------------------------------------------------


DNS_ADMIN, DNS_READER = "roles/dns.admin", "roles/dns.reader"


def accounts_fleet(gcp, **addons: Any) -> str:
    config = gke(gcp, gke={"releaseChannel": "regular"}, addonServiceAccounts=addons)
    return gke_fleet(gcp, config, "v1.33.5")


def project_roles(gcp, email: str) -> list[str]:
    bindings = gcp.policy(f"projects/{PROJECT}").get("bindings", [])
    return sorted(b["role"] for b in bindings if f"serviceAccount:{email}" in b["members"])


def test_addon_service_accounts_are_made_bound_to_their_kubernetes_account_and_granted_their_roles(host, gcp):
    text = accounts_fleet(
        gcp, external_dns={"roles": [DNS_ADMIN]}, cert_manager={"roles": [DNS_ADMIN], "namespace": "cert-manager", "serviceAccount": "cm"}
    )
    planned = prepare_text(host, text, dry_run=True)
    assert gcp.mutating() == [] and gcp.account(f"web-1-external-dns@{PROJECT}.iam.gserviceaccount.com") is None
    again(gcp)

    result = prepare_text(host, text)

    dns = f"web-1-external-dns@{PROJECT}.iam.gserviceaccount.com"
    cm = f"web-1-cert-manager@{PROJECT}.iam.gserviceaccount.com"
    assert result.outputs["addon_service_accounts"] == {
        "cert_manager": {"email": cm, "namespace": "cert-manager", "service_account": "cm"},
        "external_dns": {"email": dns, "namespace": "kube-system", "service_account": "external-dns"},
    }
    assert result.actions == planned.actions and len(gcp.mutating()) == len(result.actions) == 6
    assert f"let {PROJECT}.svc.id.goog[kube-system/external-dns] act as {dns} (Workload Identity)" in result.actions
    assert gcp.account(dns)["description"].startswith("dokaseca.io/cluster=web-1 addon external_dns")
    assert gcp.policy(f"projects/{PROJECT}/serviceAccounts/{dns}")["bindings"] == [
        {"role": "roles/iam.workloadIdentityUser", "members": [f"serviceAccount:{PROJECT}.svc.id.goog[kube-system/external-dns]"]}
    ]
    assert project_roles(gcp, dns) == project_roles(gcp, cm) == [DNS_ADMIN]
    assert gcp.state.token_requests >= 1, "the IAM calls went through google-auth's token refresh against the stand-in"

    again(gcp)
    assert prepare_text(host, text).actions == () and gcp.mutating() == []


def test_a_role_taken_off_the_list_is_revoked_and_other_members_are_kept(host, gcp):
    prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN]}))
    dns = f"web-1-external-dns@{PROJECT}.iam.gserviceaccount.com"
    again(gcp)

    result = prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_READER]}))

    assert result.actions == (f"grant {DNS_READER} and revoke {DNS_ADMIN} to service account {dns} in project {PROJECT}",)
    assert project_roles(gcp, dns) == [DNS_READER]


def test_a_service_account_not_made_by_dokaseca_is_never_taken_over(host, gcp):
    prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN]}))
    again(gcp)
    other = accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN]}).replace("name: web-1", "name: web-1x", 1)
    gcp.state.accounts[f"web-1x-external-dns@{PROJECT}.iam.gserviceaccount.com"] = {"email": "x", "description": "made by hand"}
    with pytest.raises(ProviderError, match="exists but was not made by dokaseca for this cluster"):
        prepare_text(host, other)


def test_addon_service_accounts_need_the_gke_flavor(host, gcp):
    problems = fleet_problems(host, fleet(gcp, block(gcp, addonServiceAccounts={"external_dns": {"roles": [DNS_ADMIN]}})))
    assert problems["clusters[0].gcp.addonServiceAccounts"].message.startswith("needs flavor: gke")
    assert gcp.calls() == []


def test_a_policy_changed_by_someone_else_meanwhile_is_read_and_edited_again(host, gcp):
    """Google answers a write with a stale etag with 409; the whole read-edit-write is redone."""
    gcp.fail_next(1, 409, method="POST", path_contains=f"/v3/projects/{PROJECT}:setIamPolicy")

    prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN]}))

    calls = gcp.calls()
    assert calls.count(("POST", f"/v3/projects/{PROJECT}:setIamPolicy")) == 2
    assert calls.count(("POST", f"/v3/projects/{PROJECT}:getIamPolicy")) == 3  # the look-up, then one per attempt
    assert project_roles(gcp, f"web-1-external-dns@{PROJECT}.iam.gserviceaccount.com") == [DNS_ADMIN]


def test_a_service_account_policy_at_version_3_is_read_and_its_conditional_bindings_kept(host, gcp):
    """IAM's getIamPolicy has no body: version 3 is asked for in its query. Google refuses to hand a
    version 3 policy (one with a condition, or one prepare wrote) out at a lower version."""
    prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN]}))
    dns = f"web-1-external-dns@{PROJECT}.iam.gserviceaccount.com"
    resource = f"projects/{PROJECT}/serviceAccounts/{dns}"
    conditional = {
        "role": "roles/iam.serviceAccountTokenCreator",
        "members": ["user:ops@example.com"],
        "condition": {"title": "office hours", "expression": "request.time.getHours('Europe/Berlin') < 18"},
    }
    with gcp.state.lock:
        gcp.state.policies[resource]["bindings"].append(conditional)
        gcp.state.policies[resource]["version"] = 3
    again(gcp)

    result = prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN], "namespace": "dns"}))

    assert result.actions == (
        f"let {PROJECT}.svc.id.goog[dns/external-dns] act as {dns} (Workload Identity) instead of {PROJECT}.svc.id.goog[kube-system/external-dns]",
    )
    assert conditional in gcp.policy(resource)["bindings"]
    # The Kubernetes account the addon moved away from no longer acts as the Google one.
    assert members_of(gcp.policy(resource), "roles/iam.workloadIdentityUser") == [f"serviceAccount:{PROJECT}.svc.id.goog[dns/external-dns]"]
    again(gcp)
    assert prepare_text(host, accounts_fleet(gcp, external_dns={"roles": [DNS_ADMIN], "namespace": "dns"})).actions == ()


def members_of(policy: dict[str, Any], role: str) -> list[str]:
    return sorted(m for b in policy.get("bindings", []) if b["role"] == role for m in b["members"])


# -- a run killed half-way ---------------------------------------------------------------


def everything_fleet(gcp) -> str:
    """A GKE cluster on a network prepare makes, with an addon's service account:
    every kind of write prepare makes, the Cloud Router half-way through them."""
    config = block(gcp, gke={"releaseChannel": "regular"}, addonServiceAccounts={"external_dns": {"roles": [DNS_ADMIN]}})
    return gke_fleet(gcp, config, "v1.33.5")


def cloud_state(gcp) -> dict[str, Any]:
    """The network as :func:`network_state` has it, the service accounts and every IAM policy's bindings (no etags)."""
    with gcp.state.lock:
        accounts = {email: (a.get("displayName"), a.get("description")) for email, a in gcp.state.accounts.items()}
        bindings = {resource: copy.deepcopy(p.get("bindings", [])) for resource, p in gcp.state.policies.items()}
    return {**network_state(gcp), "accounts": accounts, "bindings": bindings}


@pytest.mark.parametrize(
    "collection, name, forward",
    [
        ("regions/europe-west1/subnetworks", "nodes", False),  # the insert never reached Google
        ("regions/europe-west1/routers", ROUTER, True),  # Google made the router; the operation never reached the client
    ],
)
def test_a_run_killed_half_way_is_finished_by_the_next(host, gcp, tmp_path, monkeypatch, collection, name, forward):
    text = everything_fleet(gcp)
    prepare_text(host, text)
    clean, clean_calls = cloud_state(gcp), gcp.mutating()
    k = clean_calls.index(("POST", f"/compute/v1/projects/{PROJECT}/{collection}")) + 1
    assert 1 < k < len(clean_calls), "a call in the middle of the run"
    gcp.reset()
    forget()

    fleet_file, log = tmp_path / "fleet.yaml", tmp_path / "prepare.log"
    fleet_file.write_text(text)
    monkeypatch.delenv("DOKASECA_PLUGINS", raising=False)
    hold = gcp.pacing.hold_at(k, forward=forward)
    command = [sys.executable, "-m", "dokaseca", "prepare", str(fleet_file), "--state-dir", str(tmp_path / "state")]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)  # the fixture's environment: the stand-in
        try:
            for _ in range(600):  # 30 s at most; a run that ends without getting there fails at once, with its output
                if hold.reached.wait(0.05) or process.poll() is not None:
                    break
        finally:
            process.kill()  # SIGKILL: no clean-up of any kind
            process.wait()
            hold.release()
    assert hold.reached.is_set(), f"the run never got to the call to hold:\n{log.read_text()}"
    assert hold.what == f"POST {collection}/{name}"
    scope, _, plural = collection.rpartition("/")
    assert (name in gcp.names(plural, region=scope.removeprefix("regions/"))) is forward
    half_made, made_before = cloud_state(gcp), len(gcp.mutating())
    assert half_made["networks"] and half_made != clean
    assert not (tmp_path / "state" / "web-1.prepared.json").exists()

    again(gcp)
    plan = prepare_text(host, text, dry_run=True)
    again(gcp)
    rerun = prepare_text(host, text)

    assert rerun.actions == plan.actions and 0 < len(rerun.actions) < len(clean_calls)
    assert cloud_state(gcp) == clean
    # Nothing done twice: the rerun made only what the killed run had not, one call each.
    assert len(gcp.mutating()) == len(rerun.actions) and made_before + len(rerun.actions) == len(clean_calls)
