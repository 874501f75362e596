"""Rendering of GCP clusters: content, CRD validity, config errors, and
agreement with CAPG's own cluster templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from dokaseca.config import parse_fleet
from dokaseca.crds import CRDSchemas
from dokaseca.errors import FleetError
from dokaseca.manifests import dump_all
from dokaseca.models import InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.testing import OneClusterFleet, by_kind, clusterctl_template, content_named, extra_args, node_registrations, one

import dokaseca_gcp.plugin

PROJECT = "acme-web-prod"
REGION = "europe-west1"
IMAGE = "projects/acme-images/global/images/family/capi-ubuntu-2404-k8s-v1-33"
SA_NODES = "capg-nodes@acme-web-prod.iam.gserviceaccount.com"
SA_CONTROL_PLANE = "capg-cp@acme-web-prod.iam.gserviceaccount.com"
CAPG_GROUP = "infrastructure.cluster.x-k8s.io"

BASE_CONFIG: dict[str, Any] = {"project": PROJECT}
PRIVATE_NETWORK: dict[str, Any] = {
    "name": "web",
    "autoCreateSubnetworks": False,
    "subnets": [
        {"name": "nodes", "cidrBlock": "10.10.0.0/20"},
        {"name": "nodes-us", "cidrBlock": "10.20.0.0/20", "region": "us-east1"},
    ],
}


# -- helpers ----------------------------------------------------------------------


FLEET = OneClusterFleet("gcp", BASE_CONFIG, name="web-1", region=REGION)
fleet_text, with_config, render, problems_of = FLEET.text, FLEET.with_config, FLEET.render, FLEET.problems


@pytest.fixture
def host(plugin_host: Callable[..., PluginHost]) -> PluginHost:
    return plugin_host(("gcp", dokaseca_gcp.plugin))


def machine_template(objects: list[dict], base: str) -> dict:
    return content_named(objects, "GCPMachineTemplate", base)


def machine_spec(objects: list[dict], base: str) -> dict:
    return machine_template(objects, base)["spec"]["template"]["spec"]


# -- classic and ClusterClass -------------------------------------------------------


def test_minimal_block_renders_valid_capg_objects(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render(host, workers=[{"name": "general", "replicas": 2}, {"name": "batch", "replicas": 1}])

    assert crd_schemas.validate_all(objects) == []
    gcp_cluster = one(objects, "GCPCluster", "web-1")
    assert gcp_cluster["apiVersion"] == f"{CAPG_GROUP}/v1beta1"
    assert gcp_cluster["metadata"]["namespace"] == "prod"
    # CAPG's "default" network is written out so the output shows what CAPG will use.
    assert gcp_cluster["spec"] == {"project": PROJECT, "region": REGION, "network": {"name": "default"}}
    assert one(objects, "Cluster")["spec"]["infrastructureRef"] == {"apiGroup": CAPG_GROUP, "kind": "GCPCluster", "name": "web-1"}

    bases = ("web-1-control-plane", "web-1-general", "web-1-batch")
    assert len([o for o in objects if o["kind"] == "GCPMachineTemplate"]) == len(bases)
    for base in bases:
        assert machine_spec(objects, base) == {"instanceType": "n2-standard-2", "rootDeviceType": "pd-balanced"}
    # The same spec gives the same digest; the pool name keeps the templates apart.
    digests = {machine_template(objects, base)["metadata"]["name"].removeprefix(base) for base in bases}
    assert len(digests) == 1
    kcp = one(objects, "KubeadmControlPlane")
    control_plane_template = machine_template(objects, "web-1-control-plane")["metadata"]["name"]
    assert kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"] == control_plane_template
    deployment = one(objects, "MachineDeployment", "web-1-batch")
    assert deployment["spec"]["template"]["spec"]["infrastructureRef"] == {
        "apiGroup": CAPG_GROUP,
        "kind": "GCPMachineTemplate",
        "name": machine_template(objects, "web-1-batch")["metadata"]["name"],
    }
    # No identity kinds in CAPG and no credentials configured: nothing else is rendered.
    assert not [o for o in objects if o["kind"] in ("Secret",) or o["kind"].endswith("Identity")]


def test_machine_sizes_override_the_default_machine_type(host: PluginHost) -> None:
    objects = render(
        host,
        with_config(machineType="e2-standard-4"),
        workers=[{"name": "general", "replicas": 2}, {"name": "gpu", "replicas": 1, "machineSize": "g2-standard-8"}],
        controlPlane={"replicas": 3, "machineSize": "n2-standard-8"},
    )
    assert machine_spec(objects, "web-1-control-plane")["instanceType"] == "n2-standard-8"
    assert machine_spec(objects, "web-1-general")["instanceType"] == "e2-standard-4"
    assert machine_spec(objects, "web-1-gpu")["instanceType"] == "g2-standard-8"


def test_clusterclass_mode_renders_a_gcp_cluster_template(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(network=PRIVATE_NETWORK, zones=["europe-west1-b", "europe-west1-c"])
    classic = one(render(host, config), "GCPCluster")
    objects = render(host, config, mode="clusterclass")

    assert crd_schemas.validate_all(objects) == []
    assert not [o for o in objects if o["kind"] == "GCPCluster"]
    cluster_template = content_named(objects, "GCPClusterTemplate", "web-1")
    assert cluster_template["spec"] == {"template": {"spec": classic["spec"]}}
    cluster_class = one(objects, "ClusterClass", "web-1")
    assert cluster_class["spec"]["infrastructure"]["templateRef"] == {
        "apiVersion": f"{CAPG_GROUP}/v1beta1",
        "kind": "GCPClusterTemplate",
        "name": cluster_template["metadata"]["name"],
    }
    assert (
        cluster_class["spec"]["controlPlane"]["machineInfrastructure"]["templateRef"]["name"]
        == machine_template(objects, "web-1-control-plane")["metadata"]["name"]
    )
    (worker_class,) = cluster_class["spec"]["workers"]["machineDeployments"]
    assert worker_class["infrastructure"]["templateRef"]["kind"] == "GCPMachineTemplate"
    assert worker_class["infrastructure"]["templateRef"]["name"] == machine_template(objects, "web-1-general")["metadata"]["name"]


def test_a_changed_pool_gets_a_new_template_and_the_others_keep_theirs(host: PluginHost) -> None:
    def names(gpu_size: str, **cluster: Any) -> dict[str, str]:
        workers = [{"name": "general", "replicas": 2}, {"name": "gpu", "replicas": 1, "machineSize": gpu_size}]
        objects = render(host, with_config(zones=["europe-west1-b"]), workers=workers, **cluster)
        found = {base: machine_template(objects, f"web-1-{base}")["metadata"]["name"] for base in ("control-plane", "general", "gpu")}
        if cluster.get("mode") == "clusterclass":
            found["cluster"] = content_named(objects, "GCPClusterTemplate", "web-1")["metadata"]["name"]
        return found

    for mode in ("classic", "clusterclass"):
        before, after = names("g2-standard-8", mode=mode), names("g2-standard-16", mode=mode)
        assert after["gpu"] != before["gpu"], mode
        assert {k: v for k, v in after.items() if k != "gpu"} == {k: v for k, v in before.items() if k != "gpu"}, mode
        assert names("g2-standard-8", mode=mode) == before, mode  # unchanged settings: the same names, re-applying is a no-op


def test_a_changed_cluster_setting_renames_the_cluster_template(host: PluginHost) -> None:
    def cluster_template_name(zones: list[str]) -> str:
        return content_named(render(host, with_config(zones=zones), mode="clusterclass"), "GCPClusterTemplate", "web-1")["metadata"]["name"]

    assert cluster_template_name(["europe-west1-b"]) != cluster_template_name(["europe-west1-b", "europe-west1-c"])


def test_full_block_fills_every_capg_field(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(
        network={**PRIVATE_NETWORK, "hostProject": "acme-shared-vpc"},
        zones=["europe-west1-d", "europe-west1-b"],
        loadBalancer={"type": "InternalExternal", "internalAccess": "Global", "subnet": "nodes", "ipAddress": "10.10.0.10"},
        image=IMAGE,
        rootDeviceSize=100,
        rootDeviceType="pd-ssd",
        serviceAccount={"email": SA_NODES},
        controlPlaneServiceAccount={
            "email": SA_CONTROL_PLANE,
            "scopes": ["https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/devstorage.read_only"],
        },
        additionalLabels={"team": "web", "cost-center": "cc_42"},
        credentialsRef={"name": "capg-web-credentials", "namespace": "capg-system"},
    )
    objects = render(host, config)

    assert crd_schemas.validate_all(objects) == []
    spec = one(objects, "GCPCluster")["spec"]
    assert spec["network"] == {
        "name": "web",
        "autoCreateSubnetworks": False,
        "subnets": [
            {"name": "nodes", "cidrBlock": "10.10.0.0/20", "region": REGION},  # the cluster's region by default
            {"name": "nodes-us", "cidrBlock": "10.20.0.0/20", "region": "us-east1"},
        ],
        "hostProject": "acme-shared-vpc",
    }
    assert spec["failureDomains"] == ["europe-west1-d", "europe-west1-b"]  # the user's order: CAPG keeps it
    assert spec["loadBalancer"] == {
        "loadBalancerType": "InternalExternal",
        "internalLoadBalancer": {"internalAccess": "Global", "subnet": "nodes", "ipAddress": "10.10.0.10"},
    }
    assert list(spec["additionalLabels"].items()) == [("cost-center", "cc_42"), ("team", "web")]
    assert spec["credentialsRef"] == {"name": "capg-web-credentials", "namespace": "capg-system"}

    control_plane = machine_spec(objects, "web-1-control-plane")
    worker = machine_spec(objects, "web-1-general")
    assert control_plane["serviceAccounts"] == {
        "email": SA_CONTROL_PLANE,
        "scopes": ["https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/devstorage.read_only"],
    }
    assert worker["serviceAccounts"] == {"email": SA_NODES, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
    for machine in (control_plane, worker):
        assert machine["image"] == IMAGE
        assert machine["rootDeviceSize"] == 100
        assert machine["rootDeviceType"] == "pd-ssd"


def test_control_plane_shares_the_node_service_account_unless_given_its_own(host: PluginHost) -> None:
    objects = render(host, with_config(serviceAccount={"email": SA_NODES}))
    assert machine_spec(objects, "web-1-control-plane")["serviceAccounts"]["email"] == SA_NODES


def test_credentials_are_referenced_in_the_cluster_namespace_and_never_rendered(host: PluginHost) -> None:
    objects = render(host, with_config(credentialsRef={"name": "capg-web-credentials"}))
    assert one(objects, "GCPCluster")["spec"]["credentialsRef"] == {"name": "capg-web-credentials", "namespace": "prod"}
    assert [o for o in objects if o["kind"] == "Secret"] == []


def test_internal_load_balancer_without_options_renders_only_its_type(host: PluginHost) -> None:
    objects = render(host, with_config(network=PRIVATE_NETWORK, loadBalancer={"type": "Internal"}))
    assert one(objects, "GCPCluster")["spec"]["loadBalancer"] == {"loadBalancerType": "Internal"}


def test_kubeadm_uses_the_external_cloud_provider_and_the_instance_name(host: PluginHost) -> None:
    objects = render(host)
    node_name = '{{ ds.meta_data.local_hostname.split(".")[0] }}'
    kcp_spec = one(objects, "KubeadmControlPlane")["spec"]["kubeadmConfigSpec"]
    worker_spec = one(objects, "KubeadmConfigTemplate")["spec"]["template"]["spec"]
    registrations = [
        kcp_spec["initConfiguration"]["nodeRegistration"],
        kcp_spec["joinConfiguration"]["nodeRegistration"],
        worker_spec["joinConfiguration"]["nodeRegistration"],
    ]
    for registration in registrations:
        assert registration["name"] == node_name
        assert extra_args(registration["kubeletExtraArgs"]) == {"cloud-provider": "external"}
    assert extra_args(kcp_spec["clusterConfiguration"]["controllerManager"]["extraArgs"]) == {
        "cloud-provider": "external",
        "allocate-node-cidrs": "false",
    }
    assert "apiServer" not in kcp_spec["clusterConfiguration"]  # kube-apiserver has no --cloud-provider since v1.33


PREPARED = InfraResult(
    outputs={
        "project_id": "acme-web-prod-2",
        "region": REGION,
        "network": "prepared-net",
        "subnets": [{"name": "prepared-nodes", "region": REGION, "cidr": "10.30.0.0/20"}],
        "router": "prepared-router",
        "nat": "prepared-nat",
        "image": "global/images/capi-k8s-v1-33-1-20250101",
    }
)


def test_infra_outputs_take_precedence_over_the_config(host: PluginHost) -> None:
    objects = render(host, with_config(network=PRIVATE_NETWORK, image=IMAGE), infra=PREPARED)
    spec = one(objects, "GCPCluster")["spec"]
    assert spec["project"] == "acme-web-prod-2"
    assert spec["network"] == {
        "name": "prepared-net",
        "autoCreateSubnetworks": False,
        "subnets": [{"name": "prepared-nodes", "cidrBlock": "10.30.0.0/20", "region": REGION}],
    }
    assert machine_spec(objects, "web-1-general")["image"] == "global/images/capi-k8s-v1-33-1-20250101"


def test_a_network_prepare_makes_is_named_after_fleet_and_environment_offline(host: PluginHost) -> None:
    network = {"create": True, "subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20"}]}
    objects = render(host, with_config(network=network))
    assert one(objects, "GCPCluster")["spec"]["network"]["name"] == "acme-prod"


def test_a_block_in_defaults_is_merged_with_the_clusters_own(host: PluginHost) -> None:
    text = fleet_text({"machineType": "e2-standard-8"})
    fleet = yaml.safe_load(text)
    fleet["defaults"]["gcp"] = {"project": PROJECT, "additionalLabels": {"team": "web"}}
    cluster = parse_fleet(yaml.safe_dump(fleet), host).clusters[0]
    config = cluster.provider_config
    assert (config.project, config.machine_type, config.additional_labels) == (PROJECT, "e2-standard-8", {"team": "web"})


# -- rules that need the cluster's settings -------------------------------------------------


@pytest.mark.parametrize(
    ("config", "cluster", "path", "fragment"),
    [
        (with_config(zones=["us-east1-b"]), {}, "gcp.zones[0]", "is not in region 'europe-west1' (got 'us-east1-b')"),
        (BASE_CONFIG, {"region": "europe-west1-b"}, "region", "is a zone; set region: europe-west1"),
        (BASE_CONFIG, {"region": "eu-west-1"}, "region", "is not a GCP region"),
        (
            BASE_CONFIG,
            {"controlPlane": {"replicas": 3, "machineSize": "m6i.large"}},
            "controlPlane.machineSize",
            "is not a GCE machine type (got 'm6i.large')",
        ),
        (
            BASE_CONFIG,
            {"workers": [{"name": "general", "replicas": 1, "machineSize": "Standard_D4s_v5"}]},
            "workers.general.machineSize",
            "is not a GCE machine type (got 'Standard_D4s_v5')",
        ),
        (
            with_config(network={"subnets": [{"name": "nodes", "cidrBlock": "192.168.16.0/20"}]}),
            {},
            "gcp.network.subnets[0].cidrBlock",
            "overlaps network.pods 192.168.0.0/16",
        ),
        (
            with_config(zones=["europe-west1-b", "europe-west1-c"]),
            {"workers": [{"name": "general", "replicas": 1, "failureDomain": "europe-west1-d"}]},
            "workers.general.failureDomain",
            "is not one of gcp.zones (got 'europe-west1-d'); use one of: 'europe-west1-b', 'europe-west1-c'",
        ),
        (
            BASE_CONFIG,
            {"workers": [{"name": "general", "replicas": 1, "failureDomain": "us-east1-b"}]},
            "workers.general.failureDomain",
            "is not a zone of region 'europe-west1'",
        ),
        (
            BASE_CONFIG,
            {"workers": [{"name": "general", "replicas": 1, "failureDomain": "europe-west1"}]},
            "workers.general.failureDomain",
            "is not a GCP zone",
        ),
    ],
)
def test_settings_that_contradict_the_cluster_are_reported_at_their_path(
    host: PluginHost, config: dict, cluster: dict, path: str, fragment: str
) -> None:
    problems = problems_of(host, config, **cluster)
    assert list(problems) == [f"clusters[0].{path}"], problems
    assert fragment in problems[f"clusters[0].{path}"]


def test_every_contradiction_is_reported_at_once(host: PluginHost) -> None:
    config = with_config(zones=["us-east1-b"], network={"subnets": [{"name": "nodes", "cidrBlock": "10.96.0.0/20"}]})
    workers = [
        {"name": "general", "replicas": 1, "machineSize": "m6i.large"},
        {"name": "batch", "replicas": 1, "failureDomain": "europe-west1-b"},
    ]
    problems = problems_of(host, config, workers=workers, controlPlane={"replicas": 3, "machineSize": "Standard_D4s_v5"})
    assert sorted(problems) == sorted(
        [
            "clusters[0].gcp.zones[0]",
            "clusters[0].controlPlane.machineSize",
            "clusters[0].workers.general.machineSize",
            "clusters[0].workers.batch.failureDomain",
            "clusters[0].gcp.network.subnets[0].cidrBlock",
        ]
    ), problems
    assert "overlaps network.services 10.96.0.0/12" in problems["clusters[0].gcp.network.subnets[0].cidrBlock"]


def test_a_malformed_region_is_reported_once(host: PluginHost) -> None:
    # Zones and failure domains are not also reported against a region that is not one.
    problems = problems_of(
        host,
        with_config(zones=["europe-west1-b"]),
        region="europe-west1-b",
        workers=[{"name": "general", "replicas": 1, "failureDomain": "europe-west1-b"}],
    )
    assert list(problems) == ["clusters[0].region"], problems


@pytest.mark.parametrize(
    ("config", "domain"),
    [
        (with_config(zones=["europe-west1-b", "europe-west1-c"]), "europe-west1-c"),  # one of the listed zones
        (BASE_CONFIG, "europe-west1-d"),  # no zones listed: CAPG offers every zone of the region
    ],
)
def test_a_pool_failure_domain_pins_its_machine_deployment(host: PluginHost, crd_schemas: CRDSchemas, config: dict, domain: str) -> None:
    workers = [{"name": "general", "replicas": 2}, {"name": "pinned", "replicas": 1, "failureDomain": domain}]
    objects = render(host, config, workers=workers)
    assert crd_schemas.validate_all(objects) == []
    assert one(objects, "MachineDeployment", "web-1-pinned")["spec"]["template"]["spec"]["failureDomain"] == domain
    assert "failureDomain" not in one(objects, "MachineDeployment", "web-1-general")["spec"]["template"]["spec"]
    topology = one(render(host, config, workers=workers, mode="clusterclass"), "Cluster")["spec"]["topology"]
    pools = {pool["name"]: pool for pool in topology["workers"]["machineDeployments"]}
    assert pools["pinned"]["failureDomain"] == domain and "failureDomain" not in pools["general"]


def test_check_cluster_ignores_other_providers(host: PluginHost) -> None:
    import attrs

    cluster = parse_fleet(fleet_text(), host).clusters[0]
    foreign = attrs.evolve(host.providers["gcp"], name="someone-else")
    assert dokaseca_gcp.plugin.check_cluster(cluster=cluster, provider=foreign) is None
    assert dokaseca_gcp.plugin.check_cluster(cluster=cluster, provider=host.providers["gcp"]) == []


# -- config validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path", "fragment"),
    [
        ({"machineType": "n2-standard-2"}, "project", "required key is missing"),
        (with_config(project="Acme-Prod"), "project", "is not a GCP project ID"),
        (with_config(project="acme"), "project", "6-30 lower-case letters"),
        (with_config(project="acme-prod-"), "project", "do not end with '-'"),
        (with_config(project="123456789012"), "project", "looks like a project number"),
        (with_config(network={"name": "Web_Net"}), "network.name", "is not a valid Google Cloud resource name"),
        (with_config(network={"hostProject": "x"}), "network.hostProject", "is not a GCP project ID"),
        (with_config(network={"autoCreateSubnetworks": False}), "network.autoCreateSubnetworks", "no subnets are listed"),
        (
            with_config(network={"subnets": [{"name": "nodes", "cidrBlock": "10.10.0.1/20"}]}),
            "network.subnets[0].cidrBlock",
            "is not an IPv4 CIDR block",
        ),
        (
            with_config(network={"subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20", "region": "europe-west1-b"}]}),
            "network.subnets[0].region",
            "its region is 'europe-west1'",
        ),
        (
            with_config(network={"subnets": [{"name": "a", "cidrBlock": "10.10.0.0/16"}, {"name": "b", "cidrBlock": "10.10.8.0/24"}]}),
            "network.subnets",
            "entry 1 overlaps entry 0",
        ),
        (
            with_config(network={"subnets": [{"name": "a", "cidrBlock": "10.10.0.0/24"}, {"name": "a", "cidrBlock": "10.11.0.0/24"}]}),
            "network.subnets",
            "repeats the name of entry 0",
        ),
        (with_config(network={"subnets": [{"name": "nodes"}]}), "network.subnets[0].cidrBlock", "required key is missing"),
        (with_config(zones=["europe-west1"]), "zones", "is not a GCP zone"),
        (with_config(zones=["europe-west1-b", "europe-west1-b"]), "zones", "listed twice"),
        (with_config(zones=["europe-west1-b", "us-east1-c"]), "zones", "mixes zones of several regions"),
        (with_config(loadBalancer={"type": "internal"}), "loadBalancer.type", "did you mean 'Internal'?"),
        (with_config(loadBalancer={"internalAccess": "Global"}), "loadBalancer.internalAccess", "only applies to an internal load balancer"),
        (with_config(loadBalancer={"type": "Internal"}), "loadBalancer", "needs network.subnets"),
        (
            with_config(network=PRIVATE_NETWORK, loadBalancer={"type": "Internal", "subnet": "web"}),
            "loadBalancer",
            "subnet is not one of network.subnets",
        ),
        (
            with_config(network=PRIVATE_NETWORK, loadBalancer={"type": "Internal", "ipAddress": "10.20.0.5"}),
            "loadBalancer",
            "outside subnet 'nodes' (10.10.0.0/20)",
        ),
        (with_config(network=PRIVATE_NETWORK, loadBalancer={"type": "Internal", "ipAddress": "10.10.0"}), "loadBalancer.ipAddress", "is not an IPv4 address"),
        (with_config(machineType="m6i.large"), "machineType", "is not a GCE machine type"),
        (with_config(image="ubuntu-2404"), "image", "is not a GCE image reference"),
        (with_config(rootDeviceSize=5), "rootDeviceSize", "must be at least 10"),
        (with_config(rootDeviceType="pd-balance"), "rootDeviceType", "did you mean 'pd-balanced'?"),
        (with_config(serviceAccount={"email": "capg-nodes"}), "serviceAccount.email", "is not a service account email"),
        (with_config(serviceAccount={"email": SA_NODES, "scopes": ["cloud-platform"]}), "serviceAccount.scopes", "wants full URLs"),
        (with_config(serviceAccount={"scopes": []}), "serviceAccount.email", "required key is missing"),
        (with_config(additionalLabels={"Team": "web"}), "additionalLabels", "not a GCP label key"),
        (with_config(additionalLabels={"team": "Web Team"}), "additionalLabels", "team: is not a GCP label value"),
        (with_config(credentialsRef={"name": "CAPG_Creds"}), "credentialsRef.name", "is not a Kubernetes Secret name"),
        (with_config(credentialsRef={"name": "capg", "namespace": "capg.system"}), "credentialsRef.namespace", "DNS-1123 label"),
        (with_config(zones="europe-west1-b"), "zones", "must be a list"),
    ],
)
def test_invalid_values_are_reported_at_their_path(host: PluginHost, config: dict, path: str, fragment: str) -> None:
    problems = problems_of(host, config)
    full_path = f"clusters[0].gcp.{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


@pytest.mark.parametrize(
    ("config", "path", "suggestion"),
    [
        (with_config(machinetype="n2-standard-4"), "clusters[0].gcp", "did you mean 'machineType'?"),
        (with_config(network={"autoCreateSubnetwork": True}), "clusters[0].gcp.network", "did you mean 'autoCreateSubnetworks'?"),
        (with_config(loadBalancer={"internalAcess": "Global"}), "clusters[0].gcp.loadBalancer", "did you mean 'internalAccess'?"),
        (with_config(credentialsRef={"nane": "capg"}), "clusters[0].gcp.credentialsRef", "did you mean 'name'?"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(host: PluginHost, config: dict, path: str, suggestion: str) -> None:
    problems = problems_of(host, config)
    assert path in problems, problems
    assert "unknown key" in problems[path] and suggestion in problems[path]


def test_a_minimal_block_is_enough(host: PluginHost) -> None:
    cluster = parse_fleet(fleet_text(BASE_CONFIG), host).clusters[0]
    config = cluster.provider_config
    assert config.network.name == "default"
    assert config.machine_type == "n2-standard-2"
    assert config.load_balancer.type == "External"
    assert config.credentials_ref is None


def test_region_is_required(host: PluginHost) -> None:
    fleet = yaml.safe_load(fleet_text())
    del fleet["clusters"][0]["region"]
    with pytest.raises(FleetError) as caught:
        parse_fleet(yaml.safe_dump(fleet), host)
    assert "clusters[0].region" in [p.path for p in caught.value.problems]


# -- agreement with CAPG's templates -----------------------------------------------------

_TEMPLATE_VALUES = {
    "CLUSTER_NAME": "web-1",
    "CLUSTER_CLASS_NAME": "web-1",
    "NAMESPACE": "prod",
    "KUBERNETES_VERSION": "v1.33.1",
    "GCP_PROJECT": PROJECT,
    "GCP_REGION": REGION,
    "GCP_NETWORK_NAME": "web",
    "IMAGE_ID": IMAGE,
    "CONTROL_PLANE_MACHINE_COUNT": "3",
    "WORKER_MACHINE_COUNT": "2",
    "GCP_CONTROL_PLANE_MACHINE_TYPE": "n2-standard-4",
    "GCP_NODE_MACHINE_TYPE": "n2-standard-2",
}
# Our machine templates add the root disk type: CAPG's default, pd-standard, is too slow for etcd.
_OUR_MACHINE_EXTRAS = {"rootDeviceType"}


def load_reference(shared_folder: Path, name: str) -> list[dict]:
    return clusterctl_template(shared_folder / "reference" / "templates" / "capg" / name, _TEMPLATE_VALUES)


def provider_kinds(objects: list[dict]) -> set[str]:
    return {o["kind"] for o in objects if o["apiVersion"].startswith(CAPG_GROUP + "/")}


def matching_config() -> dict[str, Any]:
    """Our block for the values the reference template is filled with."""
    return {"project": PROJECT, "network": {"name": "web"}, "image": IMAGE, "machineType": "n2-standard-2"}


def test_classic_rendering_matches_capg_cluster_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template.yaml")
    ours = render(host, matching_config(), controlPlane={"replicas": 3, "machineSize": "n2-standard-4"})

    assert provider_kinds(ours) == provider_kinds(reference) == {"GCPCluster", "GCPMachineTemplate"}
    (ref_cluster,), (our_cluster,) = by_kind(reference, "GCPCluster"), by_kind(ours, "GCPCluster")
    assert our_cluster["apiVersion"] == ref_cluster["apiVersion"]
    assert our_cluster["spec"] == ref_cluster["spec"]

    # Machine templates: same machine type and image for the control plane and the workers.
    ref_machines = {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in by_kind(reference, "GCPMachineTemplate")}
    pairs = [("web-1-control-plane", "web-1-control-plane"), ("web-1-md-0", "web-1-general")]
    for ref_name, our_base in pairs:
        ref_machine, our_machine = ref_machines[ref_name], machine_spec(ours, our_base)
        assert set(our_machine) - set(ref_machine) == _OUR_MACHINE_EXTRAS
        assert {k: v for k, v in our_machine.items() if k in ref_machine} == ref_machine

    # kubeadm: same node name and controller-manager settings; the cloud provider
    # is external (the in-tree 'gce' of the template is gone since Kubernetes v1.31).
    ref_kcp = by_kind(reference, "KubeadmControlPlane")[0]["spec"]["kubeadmConfigSpec"]
    our_kcp = by_kind(ours, "KubeadmControlPlane")[0]["spec"]["kubeadmConfigSpec"]
    registrations = list(zip(node_registrations(reference), node_registrations(ours), strict=True))
    for ref_registration, our_registration in registrations:
        assert our_registration["name"] == ref_registration["name"]
        ref_kubelet, our_kubelet = extra_args(ref_registration["kubeletExtraArgs"]), extra_args(our_registration["kubeletExtraArgs"])
        assert (ref_kubelet["cloud-provider"], our_kubelet["cloud-provider"]) == ("gce", "external")
    ref_cm = extra_args(ref_kcp["clusterConfiguration"]["controllerManager"]["extraArgs"])
    our_cm = extra_args(our_kcp["clusterConfiguration"]["controllerManager"]["extraArgs"])
    assert our_cm["allocate-node-cidrs"] == ref_cm["allocate-node-cidrs"]
    assert (ref_cm["cloud-provider"], our_cm["cloud-provider"]) == ("gce", "external")

    # Core objects point at the provider objects the same way (v1beta1 apiVersion vs v1beta2 apiGroup).
    ref_capi = by_kind(reference, "Cluster")[0]["spec"]["infrastructureRef"]
    our_capi = by_kind(ours, "Cluster")[0]["spec"]["infrastructureRef"]
    assert (our_capi["apiGroup"], our_capi["kind"]) == (ref_capi["apiVersion"].rpartition("/")[0], ref_capi["kind"])


def test_clusterclass_rendering_matches_capg_clusterclass_template(host: PluginHost, shared_folder: Path) -> None:
    reference = load_reference(shared_folder, "cluster-template-clusterclass.yaml")
    ours = render(host, matching_config(), mode="clusterclass")

    assert provider_kinds(ours) == provider_kinds(reference) == {"GCPClusterTemplate", "GCPMachineTemplate"}
    (ref_template,), (our_template,) = by_kind(reference, "GCPClusterTemplate"), by_kind(ours, "GCPClusterTemplate")
    assert our_template["apiVersion"] == ref_template["apiVersion"]
    assert our_template["spec"] == ref_template["spec"]

    ref_class = by_kind(reference, "ClusterClass")[0]["spec"]
    our_class = by_kind(ours, "ClusterClass")[0]["spec"]
    assert our_class["infrastructure"]["templateRef"]["kind"] == ref_class["infrastructure"]["ref"]["kind"]
    assert (
        our_class["controlPlane"]["machineInfrastructure"]["templateRef"]["kind"]
        == ref_class["controlPlane"]["machineInfrastructure"]["ref"]["kind"]
    )
    ref_worker_kind = ref_class["workers"]["machineDeployments"][0]["template"]["infrastructure"]["ref"]["kind"]
    assert {w["infrastructure"]["templateRef"]["kind"] for w in our_class["workers"]["machineDeployments"]} == {ref_worker_kind}


# == GKE (flavor: gke) =====================================================================

# Three nodes: a regional pool spreads them over three zones, the same number in each.
GKE = OneClusterFleet("gcp", BASE_CONFIG, name="web-1", region=REGION, flavor="gke", workers=[{"name": "general", "replicas": 3}])
render_gke, gke_problems_of = GKE.render, GKE.problems
CAPG = f"{CAPG_GROUP}/v1beta1"
KUBEADM_KINDS = {"KubeadmControlPlane", "KubeadmConfigTemplate", "MachineDeployment", "GCPMachineTemplate", "GCPCluster", "MachineHealthCheck"}


def gke_config(**gke: Any) -> dict[str, Any]:
    return with_config(gke=gke)


def node_pool(objects: list[dict], pool: str) -> dict:
    return one(objects, "GCPManagedMachinePool", f"web-1-{pool}")["spec"]


def test_gke_classic_renders_a_gke_cluster_and_node_pools(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = with_config(
        network=PRIVATE_NETWORK,
        zones=["europe-west1-b", "europe-west1-c"],
        machineType="e2-standard-4",
        rootDeviceSize=80,
        rootDeviceType="pd-ssd",
        serviceAccount={"email": SA_NODES},
        additionalLabels={"team": "web"},
        credentialsRef={"name": "capg-web-credentials"},
        gke={"imageType": "UBUNTU_CONTAINERD"},
    )
    workers = [
        {"name": "general", "replicas": 4},
        {
            "name": "batch",
            "minReplicas": 1,
            "maxReplicas": 10,
            "machineSize": "c3-standard-8",
            "failureDomain": "europe-west1-c",
            "labels": {"workload": "batch", "tier": "b"},
            "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}, {"key": "spot", "effect": "PreferNoSchedule"}],
        },
    ]
    objects = render_gke(host, config, workers=workers)

    assert crd_schemas.validate_all(objects) == []
    assert not {o["kind"] for o in objects} & KUBEADM_KINDS
    assert one(objects, "GCPManagedCluster", "web-1")["spec"] == {
        "project": PROJECT,
        "region": REGION,
        "network": {
            "name": "web",
            "autoCreateSubnetworks": False,
            "subnets": [
                {"name": "nodes", "cidrBlock": "10.10.0.0/20", "region": REGION},
                {"name": "nodes-us", "cidrBlock": "10.20.0.0/20", "region": "us-east1"},
            ],
        },
        "additionalLabels": {"team": "web"},
        "credentialsRef": {"name": "capg-web-credentials", "namespace": "prod"},
    }
    control_plane = one(objects, "GCPManagedControlPlane", "web-1-control-plane")
    assert control_plane["apiVersion"] == CAPG
    assert control_plane["spec"] == {
        "clusterName": "web-1",
        "project": PROJECT,
        "location": REGION,
        "version": "v1.33.1",  # no release channel: the fleet's version is pinned
        "clusterNetwork": {"useIPAliases": True},
        "clusterSecurity": {"workloadIdentityConfig": {"workloadPool": f"{PROJECT}.svc.id.goog"}},
    }
    cluster = one(objects, "Cluster")["spec"]
    assert cluster["controlPlaneRef"] == {"apiGroup": CAPG_GROUP, "kind": "GCPManagedControlPlane", "name": "web-1-control-plane"}
    assert cluster["infrastructureRef"] == {"apiGroup": CAPG_GROUP, "kind": "GCPManagedCluster", "name": "web-1"}

    common = {
        "diskType": "pd-ssd",
        "diskSizeGb": 80,
        "imageType": "UBUNTU_CONTAINERD",
        "management": {"autoUpgrade": False, "autoRepair": True},
        "nodeSecurity": {"serviceAccount": {"email": SA_NODES, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}},
        "additionalLabels": {"team": "web"},
    }
    assert node_pool(objects, "general") == {
        **common,
        "nodePoolName": "general",
        "instanceType": "e2-standard-4",
        "nodeLocations": ["europe-west1-b", "europe-west1-c"],
        # Written out: CAPG would otherwise switch autoscaling on at 0-1 nodes.
        "scaling": {"enableAutoscaling": False},
    }
    assert node_pool(objects, "batch") == {
        **common,
        "nodePoolName": "batch",
        "instanceType": "c3-standard-8",
        "nodeLocations": ["europe-west1-c"],
        "scaling": {"enableAutoscaling": True, "minCount": 1, "maxCount": 10},
        "kubernetesLabels": {"tier": "b", "workload": "batch"},
        "kubernetesTaints": [
            {"key": "dedicated", "value": "batch", "effect": "NoSchedule"},
            {"key": "spot", "value": "", "effect": "PreferNoSchedule"},
        ],
    }
    for pool, replicas in (("general", 4), ("batch", 1)):
        machine_pool = one(objects, "MachinePool", f"web-1-{pool}")
        assert "annotations" not in machine_pool["metadata"]  # GKE's autoscaler, not Cluster API's
        assert machine_pool["spec"] == {
            "clusterName": "web-1",
            "replicas": replicas,
            "template": {
                "spec": {
                    "clusterName": "web-1",
                    "version": "v1.33.1",
                    "bootstrap": {"dataSecretName": ""},
                    "infrastructureRef": {"apiGroup": CAPG_GROUP, "kind": "GCPManagedMachinePool", "name": f"web-1-{pool}"},
                }
            },
        }
    # Credentials are only referenced.
    assert not by_kind(objects, "Secret")


def test_a_gke_release_channel_leaves_versions_to_gke(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    objects = render_gke(host, gke_config(releaseChannel="stable"))
    assert crd_schemas.validate_all(objects) == []
    spec = one(objects, "GCPManagedControlPlane")["spec"]
    assert spec["releaseChannel"] == "stable" and "version" not in spec
    assert "version" not in one(objects, "MachinePool")["spec"]["template"]["spec"]
    # GKE requires node auto-upgrade in a channel.
    assert node_pool(objects, "general")["management"] == {"autoUpgrade": True, "autoRepair": True}
    pinned = render_gke(host, gke_config(management={"autoRepair": False}))
    assert node_pool(pinned, "general")["management"] == {"autoUpgrade": False, "autoRepair": False}


def test_a_private_gke_cluster_with_authorized_networks(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    config = gke_config(
        private={"endpoint": True, "controlPlaneCidr": "172.16.0.16/28", "globalAccess": True},
        authorizedNetworks=[{"cidr": "10.0.0.0/8", "name": "corp"}, {"cidr": "2001:db8::/32"}],
        googlePublicCidrsAccess=False,
    )
    objects = render_gke(host, config)
    assert crd_schemas.validate_all(objects) == []
    spec = one(objects, "GCPManagedControlPlane")["spec"]
    assert spec["clusterNetwork"] == {
        "useIPAliases": True,
        "privateCluster": {
            "enablePrivateNodes": True,
            "enablePrivateEndpoint": True,
            "controlPlaneCidrBlock": "172.16.0.16/28",
            "controlPlaneGlobalAccess": True,
        },
    }
    assert spec["master_authorized_networks_config"] == {
        # CAPG's pattern refuses '2001:db8::/32'; the exploded form is the same block.
        "cidr_blocks": [{"cidr_block": "10.0.0.0/8", "display_name": "corp"}, {"cidr_block": "2001:0db8:0000:0000:0000:0000:0000:0000/32"}],
        "gcp_public_cidrs_access_enabled": False,
    }
    # Private nodes only, GKE's choice of control-plane range; no list: any address reaches the endpoint.
    spec = one(render_gke(host, gke_config(private={})), "GCPManagedControlPlane")["spec"]
    assert spec["clusterNetwork"]["privateCluster"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False}
    assert "master_authorized_networks_config" not in spec
    # An empty list turns the restriction on with nothing allowed but the VPC.
    spec = one(render_gke(host, gke_config(authorizedNetworks=[])), "GCPManagedControlPlane")["spec"]
    assert spec["master_authorized_networks_config"] == {"cidr_blocks": []}


def test_workload_identity_can_be_left_off(host: PluginHost) -> None:
    assert "clusterSecurity" not in one(render_gke(host, gke_config(workloadIdentity=False)), "GCPManagedControlPlane")["spec"]


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_gke_autopilot_has_no_node_pools(host: PluginHost, crd_schemas: CRDSchemas, mode: str) -> None:
    objects = render_gke(host, gke_config(autopilot=True), workers=[], mode=mode)
    assert crd_schemas.validate_all(objects) == []
    assert not {"MachinePool", "GCPManagedMachinePool", "GCPManagedMachinePoolTemplate", "GKEConfigTemplate"} & {o["kind"] for o in objects}
    if mode == "classic":
        spec = one(objects, "GCPManagedControlPlane")["spec"]
    else:
        spec = content_named(objects, "GCPManagedControlPlaneTemplate", "web-1-control-plane")["spec"]["template"]["spec"]
        assert "workers" not in one(objects, "ClusterClass")["spec"]
        assert "workers" not in one(objects, "Cluster")["spec"]["topology"]
    # CAPG refuses Autopilot without a channel; 'regular' is GKE's own default.
    assert (spec["enableAutopilot"], spec["releaseChannel"]) == (True, "regular")
    assert "version" not in spec
    chosen = render_gke(host, gke_config(autopilot=True, releaseChannel="rapid"), workers=[])
    assert one(chosen, "GCPManagedControlPlane")["spec"]["releaseChannel"] == "rapid"


def test_gke_clusterclass_uses_machine_pool_classes(host: PluginHost, crd_schemas: CRDSchemas) -> None:
    workers = [{"name": "general", "replicas": 3}, {"name": "batch", "minReplicas": 1, "maxReplicas": 9, "labels": {"workload": "batch"}}]
    config = with_config(serviceAccount={"email": SA_NODES}, additionalLabels={"team": "web"})
    classic = render_gke(host, config, workers=workers)
    objects = render_gke(host, config, workers=workers, mode="clusterclass")

    assert crd_schemas.validate_all(objects) == []
    assert not {"GCPManagedCluster", "GCPManagedControlPlane", "MachinePool", "GCPManagedMachinePool"} & {o["kind"] for o in objects}
    assert not {o["kind"] for o in objects} & KUBEADM_KINDS
    cluster_template = content_named(objects, "GCPManagedClusterTemplate", "web-1")
    assert cluster_template["spec"] == {"template": {"spec": one(classic, "GCPManagedCluster")["spec"]}}
    control_plane = content_named(objects, "GCPManagedControlPlaneTemplate", "web-1-control-plane")
    classic_control_plane = dict(one(classic, "GCPManagedControlPlane")["spec"])
    # The topology's version is the one place to upgrade; CAPG names the GKE cluster.
    del classic_control_plane["clusterName"], classic_control_plane["version"]
    assert control_plane["spec"] == {"template": {"spec": classic_control_plane}}

    cluster_class = one(objects, "ClusterClass", "web-1")["spec"]
    assert cluster_class["infrastructure"]["templateRef"] == {
        "apiVersion": CAPG,
        "kind": "GCPManagedClusterTemplate",
        "name": cluster_template["metadata"]["name"],
    }
    assert cluster_class["controlPlane"] == {
        "templateRef": {"apiVersion": CAPG, "kind": "GCPManagedControlPlaneTemplate", "name": control_plane["metadata"]["name"]}
    }
    assert list(cluster_class["workers"]) == ["machinePools"]  # no MachineDeployment classes, no health checks
    classes = {c["class"]: c for c in cluster_class["workers"]["machinePools"]}
    assert list(classes) == ["general", "batch"]
    for pool in ("general", "batch"):
        template = content_named(objects, "GCPManagedMachinePoolTemplate", f"web-1-{pool}")
        bootstrap = content_named(objects, "GKEConfigTemplate", f"web-1-{pool}")
        assert template["spec"] == {"template": {"spec": node_pool(classic, pool)}}
        assert bootstrap == {**bootstrap, "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "spec": {"template": {"spec": {}}}}
        assert classes[pool] == {
            "class": pool,
            "bootstrap": {"templateRef": {"apiVersion": bootstrap["apiVersion"], "kind": "GKEConfigTemplate", "name": bootstrap["metadata"]["name"]}},
            "infrastructure": {
                "templateRef": {"apiVersion": CAPG, "kind": "GCPManagedMachinePoolTemplate", "name": template["metadata"]["name"]}
            },
        }
    topology = one(objects, "Cluster")["spec"]["topology"]
    assert topology == {
        "classRef": {"name": "web-1"},
        "version": "v1.33.1",
        "workers": {
            "machinePools": [
                {"class": "general", "name": "general", "replicas": 3},
                # GKE's autoscaler owns the size; it starts at the minimum, rounded up to one node per zone.
                {"class": "batch", "name": "batch", "replicas": 3},
            ]
        },
    }


def test_gke_templates_change_name_only_with_their_pool(host: PluginHost) -> None:
    def names(gpu_size: str) -> dict[str, str]:
        workers = [{"name": "general", "replicas": 3}, {"name": "gpu", "replicas": 3, "machineSize": gpu_size}]
        objects = render_gke(host, workers=workers, mode="clusterclass")
        found = {pool: content_named(objects, "GCPManagedMachinePoolTemplate", f"web-1-{pool}")["metadata"]["name"] for pool in ("general", "gpu")}
        found["cluster"] = content_named(objects, "GCPManagedClusterTemplate", "web-1")["metadata"]["name"]
        found["control-plane"] = content_named(objects, "GCPManagedControlPlaneTemplate", "web-1-control-plane")["metadata"]["name"]
        return found

    before, after = names("g2-standard-8"), names("g2-standard-16")
    assert after["gpu"] != before["gpu"]
    assert {k: v for k, v in after.items() if k != "gpu"} == {k: v for k, v in before.items() if k != "gpu"}
    assert names("g2-standard-8") == before


@pytest.mark.parametrize(
    ("config", "pool", "locations", "replicas"),
    [
        (BASE_CONFIG, {"replicas": 6}, None, 6),  # regional, GKE's three zones
        (with_config(zones=["europe-west1-b", "europe-west1-d"]), {"replicas": 4}, ["europe-west1-b", "europe-west1-d"], 4),
        (BASE_CONFIG, {"replicas": 2, "failureDomain": "europe-west1-d"}, ["europe-west1-d"], 2),
        (BASE_CONFIG, {"minReplicas": 4, "maxReplicas": 12}, None, 6),  # the minimum, rounded up to whole rows of 3 zones
        (BASE_CONFIG, {"minReplicas": 0, "maxReplicas": 3}, None, 0),
    ],
)
def test_gke_pool_zones_and_sizes(host: PluginHost, config: dict, pool: dict, locations: list[str] | None, replicas: int) -> None:
    objects = render_gke(host, config, workers=[{"name": "general", **pool}])
    assert node_pool(objects, "general").get("nodeLocations") == locations
    assert one(objects, "MachinePool")["spec"]["replicas"] == replicas


@pytest.mark.parametrize("mode", ["classic", "clusterclass"])
def test_a_zonal_gke_cluster_is_refused(host: PluginHost, mode: str) -> None:
    """CAPG v1.12 makes a GKE cluster at a zone but addresses its node pools at
    locations/<region> and divides their replicas among three zones: they are never found."""
    problems = gke_problems_of(host, gke_config(location="europe-west1-c"), mode=mode)
    assert list(problems) == ["clusters[0].gcp.gke.location"], problems
    problem = problems["clusters[0].gcp.gke.location"]
    assert "is a zone" in problem and "CAPG v1.12" in problem
    assert "regional cluster in 'europe-west1'" in problem
    assert "gcp.zones: [europe-west1-c]" in problem and "failureDomain: europe-west1-c" in problem


def test_the_zonal_hint_renders_a_regional_cluster_with_nodes_in_one_zone(host: PluginHost) -> None:
    objects = render_gke(host, with_config(zones=["europe-west1-c"]), workers=[{"name": "general", "replicas": 2}])
    assert one(objects, "GCPManagedControlPlane")["spec"]["location"] == REGION
    assert node_pool(objects, "general")["nodeLocations"] == ["europe-west1-c"]  # CAPG divides replicas by 1
    assert one(objects, "MachinePool")["spec"]["replicas"] == 2


def test_gke_location_may_name_the_cluster_region(host: PluginHost) -> None:
    objects = render_gke(host, gke_config(location=REGION))
    assert one(objects, "GCPManagedControlPlane")["spec"]["location"] == REGION


def test_gke_reads_what_prepare_found(host: PluginHost) -> None:
    objects = render_gke(host, with_config(network={"create": True, "subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20"}]}), infra=PREPARED)
    assert one(objects, "GCPManagedCluster")["spec"] == {
        "project": "acme-web-prod-2",
        "region": REGION,
        "network": {"name": "prepared-net", "subnets": [{"name": "prepared-nodes", "cidrBlock": "10.30.0.0/20", "region": REGION}]},
    }
    spec = one(objects, "GCPManagedControlPlane")["spec"]
    assert spec["project"] == "acme-web-prod-2"
    assert spec["clusterSecurity"]["workloadIdentityConfig"]["workloadPool"] == "acme-web-prod-2.svc.id.goog"
    # Offline, the network prepare would make is named after fleet and environment.
    offline = render_gke(host, with_config(network={"create": True, "subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20"}]}))
    assert one(offline, "GCPManagedCluster")["spec"]["network"]["name"] == "acme-prod"


def test_one_block_serves_both_flavors(host: PluginHost) -> None:
    """A ``gcp:`` block in ``defaults:`` may hold settings of both flavors; each ignores the other's."""
    kubeadm_only = with_config(image=IMAGE, controlPlaneServiceAccount={"email": SA_CONTROL_PLANE}, loadBalancer={"type": "External"})
    both = {**kubeadm_only, "gke": {"releaseChannel": "regular", "imageType": "COS_CONTAINERD", "private": {}}}
    assert dump_all(render(host, both)) == dump_all(render(host, kubeadm_only))
    gke = dump_all(render_gke(host, both))
    assert IMAGE not in gke and SA_CONTROL_PLANE not in gke and "loadBalancer" not in gke


@pytest.mark.parametrize(
    ("config", "cluster", "path", "fragment"),
    [
        (gke_config(autopilot=True), {}, "workers", "must be empty for an Autopilot cluster (got ['general'])"),
        (BASE_CONFIG, {"workers": []}, "workers", "a Standard GKE cluster needs at least one node pool"),
        (BASE_CONFIG, {"workers": [{"name": "general", "replicas": 2}]}, "workers.general.replicas", "must be a multiple of 3"),
        (
            with_config(zones=["europe-west1-b", "europe-west1-c"]),
            {"workers": [{"name": "general", "replicas": 5}]},
            "workers.general.replicas",
            "use 4 or 6, or pin the pool to one zone with failureDomain",
        ),
        (BASE_CONFIG, {"workers": [{"name": "general", "minReplicas": 1, "maxReplicas": 2}]}, "workers.general.maxReplicas", "is below 3, the size the pool starts at"),
        (BASE_CONFIG, {"workers": [{"name": "general", "minReplicas": 6, "maxReplicas": 3}]}, "workers.general.minReplicas", "larger than maxReplicas"),
        (BASE_CONFIG, {"workers": [{"name": "1st", "replicas": 3}]}, "workers.1st.name", "cannot name a GKE node pool"),
        (BASE_CONFIG, {"workers": [{"name": "p" * 41, "replicas": 3}]}, f"workers.{'p' * 41}.name", "at most 40 characters"),
        (BASE_CONFIG, {"name": "web-1-" + "x" * 40}, "name", "cannot name a GKE cluster"),
        (gke_config(location="us-east1-b"), {}, "gcp.gke.location", "is a zone: CAPG v1.12"),
        (gke_config(location="us-east1"), {}, "gcp.gke.location", "(got 'us-east1'); leave it out: the GKE cluster is in 'europe-west1'"),
        (with_config(zones=["us-east1-b"]), {}, "gcp.zones[0]", "is not in region 'europe-west1'"),
        (
            gke_config(releaseChannel="regular", management={"autoUpgrade": False}),
            {},
            "gcp.gke.management.autoUpgrade",
            "cannot be off in the 'regular' release channel",
        ),
        (gke_config(management={"autoUpgrade": True}), {}, "gcp.gke.management.autoUpgrade", "off the pinned kubernetesVersion"),
        (gke_config(releaseChannel="rapid"), {"mode": "clusterclass"}, "gcp.gke.releaseChannel", "cannot go with mode: clusterclass"),
        (with_config(rootDeviceType="hyperdisk-balanced"), {}, "gcp.rootDeviceType", "is not a disk type of GKE node pools"),
        (
            with_config(network={"autoCreateSubnetworks": False, "subnets": [{"name": "us", "cidrBlock": "10.20.0.0/20", "region": "us-east1"}]}),
            {},
            "gcp.network.subnets",
            "has no subnet in region 'europe-west1'",
        ),
        (
            with_config(network=PRIVATE_NETWORK, gke={"private": {"controlPlaneCidr": "10.10.0.16/28"}}),
            {},
            "gcp.gke.private.controlPlaneCidr",
            "overlaps gcp.network.subnets[0] (10.10.0.0/20)",
        ),
    ],
)
def test_gke_mistakes_are_reported_at_their_path(host: PluginHost, config: dict, cluster: dict, path: str, fragment: str) -> None:
    problems = gke_problems_of(host, config, **cluster)
    assert list(problems) == [f"clusters[0].{path}"], problems
    assert fragment in problems[f"clusters[0].{path}"]


@pytest.mark.parametrize(
    ("config", "cluster"),
    [
        (gke_config(autopilot=True, releaseChannel="stable"), {"workers": [], "mode": "clusterclass"}),  # Autopilot needs a channel
        (BASE_CONFIG, {"workers": [{"name": "general", "replicas": 2, "failureDomain": "europe-west1-b"}]}),
        # GKE picks its own pod and Service ranges: a subnet over the core's defaults is fine.
        (with_config(network={"subnets": [{"name": "nodes", "cidrBlock": "10.96.0.0/20"}]}), {"workers": [{"name": "general", "replicas": 3}]}),
        (BASE_CONFIG, {"name": "web-1-" + "x" * 40, "mode": "clusterclass", "workers": [{"name": "general", "replicas": 3}]}),
    ],
)
def test_gke_settings_that_are_fine(host: PluginHost, config: dict, cluster: dict) -> None:
    parse_fleet(GKE.text(config, **cluster), host)


def test_every_gke_mistake_is_reported_at_once(host: PluginHost) -> None:
    config = with_config(rootDeviceType="hyperdisk-balanced", gke={"location": "us-east1-b", "management": {"autoUpgrade": True}})
    workers = [{"name": "general", "replicas": 3}, {"name": "9lives", "replicas": 3}]
    problems = gke_problems_of(host, config, workers=workers)
    assert sorted(problems) == sorted(
        f"clusters[0].{path}"
        for path in ("workers.9lives.name", "gcp.gke.location", "gcp.gke.management.autoUpgrade", "gcp.rootDeviceType")
    ), problems


@pytest.mark.parametrize(
    ("gke", "path", "fragment"),
    [
        ({"releaseChannel": "regualr"}, "gke.releaseChannel", "did you mean 'regular'?"),
        ({"imageType": "COS"}, "gke.imageType", "is not a valid choice"),
        ({"private": {"controlPlaneCidr": "172.16.0.0/24"}}, "gke.private.controlPlaneCidr", "is not an IPv4 /28 block"),
        ({"private": {"nodes": False, "endpoint": True}}, "gke.private.endpoint", "needs private nodes"),
        ({"authorizedNetworks": [{"cidr": "10.0.0.1/8"}]}, "gke.authorizedNetworks[0].cidr", "is not a CIDR block"),
        ({"autopilot": "yes please"}, "gke.autopilot", ""),
    ],
)
def test_invalid_gke_values_are_reported_at_their_path(host: PluginHost, gke: dict, path: str, fragment: str) -> None:
    problems = gke_problems_of(host, gke_config(**gke))
    full_path = f"clusters[0].gcp.{path}"
    assert full_path in problems, problems
    assert fragment in problems[full_path]


def test_unknown_gke_keys_get_a_did_you_mean(host: PluginHost) -> None:
    problems = gke_problems_of(host, gke_config(relaseChannel="regular"))
    assert "did you mean 'releaseChannel'?" in problems["clusters[0].gcp.gke"]


# -- agreement with CAPG's GKE templates --------------------------------------------------


def gke_reference(shared_folder: Path, name: str) -> list[dict]:
    return clusterctl_template(shared_folder / "reference" / "templates" / "capg" / name, {**_TEMPLATE_VALUES, "WORKER_MACHINE_COUNT": "3"})


def _ref_group_kind_name(ref: dict) -> tuple[str, str, str]:
    """A v1beta1 ``{apiVersion, kind, name}`` or v1beta2 ``{apiGroup, kind, name}`` reference, compared by group."""
    group = ref.get("apiGroup") or ref["apiVersion"].rpartition("/")[0]
    return group, ref["kind"], ref["name"]


def _patched(cluster_class: dict, variables: dict[str, Any], template: dict) -> dict:
    """A reference template after its class's patches (add ops from variables; all the GKE templates use)."""
    patched = yaml.safe_load(yaml.safe_dump(template))
    for patch in cluster_class["spec"].get("patches", []):
        for definition in patch["definitions"]:
            if (definition["selector"]["apiVersion"], definition["selector"]["kind"]) != (template["apiVersion"], template["kind"]):
                continue
            for op in definition["jsonPatches"]:
                *parents, leaf = op["path"].strip("/").split("/")
                node = patched
                for part in parents:
                    node = node[part]
                node[leaf] = variables[op["valueFrom"]["variable"]]
    return patched


def test_gke_classic_matches_capg_gke_template(host: PluginHost, shared_folder: Path) -> None:
    reference = gke_reference(shared_folder, "cluster-template-gke.yaml")
    ours = render_gke(host, with_config(network={"name": "web"}), workers=[{"name": "mp-0", "replicas": 3}])

    assert provider_kinds(ours) == provider_kinds(reference) == {"GCPManagedCluster", "GCPManagedControlPlane", "GCPManagedMachinePool"}
    assert one(ours, "GCPManagedCluster", "web-1")["spec"] == one(reference, "GCPManagedCluster", "web-1")["spec"]
    ref_cp, our_cp = one(reference, "GCPManagedControlPlane", "web-1-control-plane"), one(ours, "GCPManagedControlPlane", "web-1-control-plane")
    assert our_cp["apiVersion"] == ref_cp["apiVersion"]
    assert {k: our_cp["spec"][k] for k in ref_cp["spec"]} == ref_cp["spec"]  # project, location
    # Deliberate: the GKE cluster's name, the pinned version, VPC-native networking and Workload Identity are written out.
    assert set(our_cp["spec"]) - set(ref_cp["spec"]) == {"clusterName", "version", "clusterNetwork", "clusterSecurity"}

    ref_pool, our_pool = one(reference, "MachinePool", "web-1-mp-0")["spec"], one(ours, "MachinePool", "web-1-mp-0")["spec"]
    assert (our_pool["clusterName"], our_pool["replicas"]) == (ref_pool["clusterName"], int(ref_pool["replicas"]))
    ref_template, our_template = ref_pool["template"]["spec"], our_pool["template"]["spec"]
    assert our_template["bootstrap"] == ref_template["bootstrap"] == {"dataSecretName": ""}
    assert _ref_group_kind_name(our_template["infrastructureRef"]) == _ref_group_kind_name(ref_template["infrastructureRef"])
    # Deliberate: the node pool's settings are explicit where the template leaves CAPG's defaults.
    assert one(reference, "GCPManagedMachinePool", "web-1-mp-0")["spec"] == {}
    assert node_pool(ours, "mp-0")["scaling"] == {"enableAutoscaling": False}

    ref_top, our_top = one(reference, "Cluster")["spec"], one(ours, "Cluster")["spec"]
    for key in ("controlPlaneRef", "infrastructureRef"):
        assert _ref_group_kind_name(our_top[key]) == _ref_group_kind_name(ref_top[key]), key
    assert (one(reference, "Cluster")["apiVersion"], one(ours, "Cluster")["apiVersion"]) == ("cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2")


def test_gke_clusterclass_matches_capg_gke_clusterclass_template(host: PluginHost, shared_folder: Path) -> None:
    reference = gke_reference(shared_folder, "cluster-template-gke-clusterclass.yaml")
    topology_reference = gke_reference(shared_folder, "cluster-template-gke-topology.yaml")
    # The reference's pools are pinned to zone -a with one node each.
    workers = [{"name": f"pool{i}", "replicas": 1, "failureDomain": f"{REGION}-a"} for i in range(2)]
    ours = render_gke(host, with_config(network={"name": "web"}), workers=workers, mode="clusterclass")

    kinds = {"GCPManagedClusterTemplate", "GCPManagedControlPlaneTemplate", "GCPManagedMachinePoolTemplate"}
    assert provider_kinds(ours) == provider_kinds(reference) == kinds
    assert content_named(ours, "GCPManagedClusterTemplate", "web-1")["spec"] == one(reference, "GCPManagedClusterTemplate")["spec"]
    ref_cp = one(reference, "GCPManagedControlPlaneTemplate")["spec"]["template"]["spec"]
    our_cp = content_named(ours, "GCPManagedControlPlaneTemplate", "web-1-control-plane")["spec"]["template"]["spec"]
    assert {k: our_cp[k] for k in ref_cp} == ref_cp
    assert set(our_cp) - set(ref_cp) == {"clusterNetwork", "clusterSecurity"}

    ref_class, our_class = one(reference, "ClusterClass")["spec"], one(ours, "ClusterClass")["spec"]
    assert our_class["infrastructure"]["templateRef"]["kind"] == ref_class["infrastructure"]["ref"]["kind"]
    assert our_class["controlPlane"]["templateRef"]["kind"] == ref_class["controlPlane"]["ref"]["kind"]
    ref_workers, our_workers = ref_class["workers"]["machinePools"], our_class["workers"]["machinePools"]
    assert len(our_workers) == len(ref_workers) == 2
    for index, (ref_worker, our_worker) in enumerate(zip(ref_workers, our_workers)):
        for part in ("bootstrap", "infrastructure"):
            assert our_worker[part]["templateRef"]["kind"] == ref_worker["template"][part]["ref"]["kind"]
        ref_pool = one(reference, "GCPManagedMachinePoolTemplate", f"web-1-pool{index}")["spec"]["template"]["spec"]
        our_pool = content_named(ours, "GCPManagedMachinePoolTemplate", f"web-1-pool{index}")["spec"]["template"]["spec"]
        assert our_pool["nodeLocations"] == ref_pool["nodeLocations"]
        # Deliberate: the node pool is named after the fleet's pool (node pool names are per GKE cluster).
        assert (ref_pool["nodePoolName"], our_pool["nodePoolName"]) == (f"web-1-pool{index}", f"pool{index}")
        # Deliberate: a worker class per pool, named after it.
        assert (ref_worker["class"], our_worker["class"]) == (("default-system", "default-worker")[index], f"pool{index}")
    ref_bootstrap = one(reference, "GKEConfigTemplate", "web-1-pool0")
    our_bootstrap = content_named(ours, "GKEConfigTemplate", "web-1-pool0")
    assert (our_bootstrap["apiVersion"], our_bootstrap["spec"]) == (ref_bootstrap["apiVersion"], ref_bootstrap["spec"])

    ref_topology, our_topology = one(topology_reference, "Cluster")["spec"]["topology"], one(ours, "Cluster")["spec"]["topology"]
    assert our_topology["version"] == ref_topology["version"]
    assert [p["replicas"] for p in our_topology["workers"]["machinePools"]] == [p["replicas"] for p in ref_topology["workers"]["machinePools"]]
    assert [p["class"] for p in our_topology["workers"]["machinePools"]] == [w["class"] for w in our_workers]
    # CAPI v1beta2: classRef instead of class.
    assert (ref_topology["class"], our_topology["classRef"]) == ("web-1", {"name": "web-1"})


def test_gke_autopilot_matches_capg_autopilot_templates(host: PluginHost, shared_folder: Path) -> None:
    classic_ref = gke_reference(shared_folder, "cluster-template-gke-autopilot.yaml")
    ours = render_gke(host, with_config(network={"name": "web"}, gke={"autopilot": True}), workers=[])
    assert provider_kinds(ours) == provider_kinds(classic_ref) == {"GCPManagedCluster", "GCPManagedControlPlane"}
    assert one(ours, "GCPManagedCluster")["spec"] == one(classic_ref, "GCPManagedCluster")["spec"]
    ref_cp, our_cp = one(classic_ref, "GCPManagedControlPlane")["spec"], one(ours, "GCPManagedControlPlane")["spec"]
    assert {k: our_cp[k] for k in ref_cp} == ref_cp  # project, location, enableAutopilot
    # Deliberate: CAPG's webhook refuses Autopilot without a release channel, which this template leaves out.
    assert "releaseChannel" not in ref_cp and our_cp["releaseChannel"] == "regular"

    class_ref = gke_reference(shared_folder, "cluster-template-gke-autopilot-clusterclass.yaml")
    topology = one(gke_reference(shared_folder, "cluster-template-gke-autopilot-topology.yaml"), "Cluster")["spec"]["topology"]
    variables = {v["name"]: v["value"] for v in topology["variables"]}
    ours = render_gke(host, with_config(network={"name": "web"}, gke={"autopilot": True}), workers=[], mode="clusterclass")
    reference_class = one(class_ref, "ClusterClass")
    ref_cluster = _patched(reference_class, variables, one(class_ref, "GCPManagedClusterTemplate"))["spec"]
    assert content_named(ours, "GCPManagedClusterTemplate", "web-1")["spec"] == ref_cluster
    ref_cp = _patched(reference_class, variables, one(class_ref, "GCPManagedControlPlaneTemplate"))["spec"]["template"]["spec"]
    our_cp = content_named(ours, "GCPManagedControlPlaneTemplate", "web-1-control-plane")["spec"]["template"]["spec"]
    assert {k: our_cp[k] for k in ref_cp} == ref_cp  # project, location, enableAutopilot, releaseChannel: regular
    # Deliberate: one class per cluster carrying its values, so no variables or patches.
    assert reference_class["spec"]["variables"] and "variables" not in one(ours, "ClusterClass")["spec"]
