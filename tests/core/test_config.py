"""Loading fleet files: models, layering, provenance, and every kind of bad input."""

import textwrap

import pytest
import yaml
from fake_provider import BASE_FLEET

from dokaseca.config import parse_fleet
from dokaseca.errors import FleetError


def fleet(overrides: str = "", base: str = BASE_FLEET) -> dict:
    """BASE_FLEET with a YAML fragment deep-merged over it."""
    data = yaml.safe_load(base)
    for key, value in (yaml.safe_load(textwrap.dedent(overrides)) or {}).items():
        data[key] = value
    return data


def load(host, data):
    return parse_fleet(yaml.safe_dump(data, sort_keys=False), host)


def problems(host, data) -> dict[str, str]:
    with pytest.raises(FleetError) as caught:
        load(host, data)
    return {p.path: str(p) for p in caught.value.problems}


def test_minimal_fleet_gets_builtin_defaults(host):
    cluster = load(host, fleet()).clusters[0]
    assert cluster.name == "dev-1"
    assert cluster.namespace == "dev"
    assert cluster.kubernetes_version == "v1.33.1"
    assert cluster.control_plane.replicas == 1
    assert cluster.network.pods == ("192.168.0.0/16",)
    assert [(p.name, p.replicas) for p in cluster.workers] == [("general", 2)]
    assert cluster.provider_config.size == "small"


def test_layers_merge_defaults_environment_cluster(host):
    data = fleet(
        """
        defaults:
          kubernetesVersion: v1.33.1
          addons: {metrics_server: true, cert_manager: true}
          workers:
            - {name: general, replicas: 2, machineSize: m, labels: {tier: base}}
          fake: {size: large, zone: r1-a}
        environments:
          prod:
            kubernetesVersion: v1.32.5
            addons: {cert_manager: false}
            workers:
              - {name: general, minReplicas: 3, maxReplicas: 9}
            fake: {zone: r1-b}
        clusters:
          - name: prod-1
            environment: prod
            provider: fake
            region: r1
            workers:
              - {name: general, labels: {disk: ssd}}
              - {name: gpu, replicas: 1}
            fake: {imageName: flatcar}
        """
    )
    loaded = load(host, data)
    cluster = loaded.clusters[0]
    assert cluster.kubernetes_version == "v1.32.5"
    assert cluster.control_plane.replicas == 3  # built-in prod
    assert cluster.addons == {"cert_manager": False, "metrics_server": True}
    general, gpu = cluster.workers
    assert (general.replicas, general.min_replicas, general.max_replicas) == (None, 3, 9)
    assert general.autoscaled and general.machine_size == "m"
    assert general.labels == {"disk": "ssd", "tier": "base"}
    assert (gpu.name, gpu.replicas) == ("gpu", 1)
    assert (cluster.provider_config.size, cluster.provider_config.zone, cluster.provider_config.image_name) == ("large", "r1-b", "flatcar")
    sources = {s.path: s.source for s in loaded.provenance["prod-1"]}
    assert sources["kubernetesVersion"] == "environments.prod"
    assert sources["controlPlane.replicas"] == "built-in (prod)"
    assert sources["workers.general.minReplicas"] == "environments.prod"
    assert sources["workers.general.machineSize"] == "defaults"
    assert sources["workers.general.labels.disk"] == "clusters[0]"
    assert "workers.general.replicas" not in sources  # switched to autoscaling
    assert sources["fake.size"] == "defaults" and sources["fake.zone"] == "environments.prod"
    assert sources["fake.imageName"] == "clusters[0]"


def test_per_cluster_namespaces_with_prefix(host):
    data = fleet("management: {namespaces: per-cluster, namespacePrefix: fleet-}")
    assert load(host, data).clusters[0].namespace == "fleet-dev-1"


def test_users_may_add_environments(host):
    data = fleet(
        """
        environments:
          qa: {controlPlane: {replicas: 3}}
        clusters:
          - {name: qa-1, environment: qa, provider: fake, region: r}
        """
    )
    cluster = load(host, data).clusters[0]
    assert (cluster.environment, cluster.namespace, cluster.control_plane.replicas) == ("qa", "qa", 3)


def test_all_problems_are_reported_at_once_with_paths(host):
    data = fleet(
        """
        clusters:
          - name: Bad_Name
            environment: dev
            provider: fake
            region: r
          - name: ok-1
            environment: devv
            provider: fake
            region: r
          - name: ok-2
            environment: dev
            provider: fake
            region: r
            flavour: eks
          - name: ok-3
            environment: dev
            provider: fake
            region: r
            kubernetesVersion: "1.30"
        """
    )
    found = problems(host, data)
    assert "clusters[0].name" in found and "DNS-1123" in found["clusters[0].name"]
    assert "clusters[2]" in found and "'flavour'" in found["clusters[2]"] and "did you mean 'flavor'" in found["clusters[2]"]
    assert "clusters[3].kubernetesVersion" in found and "v1.33.1" in found["clusters[3].kubernetesVersion"]
    assert "did you mean 'dev'" in found["clusters[1].environment"]


def test_semantic_problems_in_several_clusters_are_all_reported(host):
    data = fleet(
        """
        clusters:
          - {name: a-1, environment: devv, provider: fake, region: r}
          - {name: a-2, environment: dev, provider: fake, region: r, fake: {size: huge}}
          - {name: a-3, environment: dev, provider: fake, region: r, flavor: eks}
        """
    )
    found = problems(host, data)
    assert "did you mean 'dev'" in found["clusters[0].environment"]
    assert "'huge'" in found["clusters[1].fake.size"] and "expected one of" in found["clusters[1].fake.size"]
    assert "not a flavor" in found["clusters[2].flavor"]


def test_unknown_provider_names_the_plugin_to_install(host):
    data = fleet("clusters: [{name: a-1, environment: dev, provider: azure, region: r}]")
    message = problems(host, data)["clusters[0].provider"]
    assert "pip install dokaseca-azure" in message


def test_misspelt_provider_gets_did_you_mean(host):
    data = fleet("clusters: [{name: a-1, environment: dev, provider: fak, region: r}]")
    assert "did you mean 'fake'" in problems(host, data)["clusters[0].provider"]


def test_provider_block_for_another_installed_provider(host):
    data = fleet("clusters: [{name: a-1, environment: dev, provider: fake, region: r, aws: {sshKeyName: k}}]")
    assert "pip install dokaseca-aws" in problems(host, data)["clusters[0].aws"]


def test_provider_value_error_says_which_layer_it_came_from(host):
    data = fleet("defaults: {kubernetesVersion: v1.33.1, fake: {size: tiny}}")
    assert "comes from defaults.fake" in problems(host, data)["clusters[0].fake.size"]


def test_cross_field_rules(host):
    data = fleet(
        """
        clusters:
          - name: a-1
            environment: dev
            provider: fake
            region: r
            controlPlane: {replicas: 2}
            network: {pods: [10.0.0.0/8], services: [10.96.0.0/12]}
          - name: a-1
            environment: dev
            provider: fake
            region: r
            workers:
              - {name: general, minReplicas: 5, maxReplicas: 2}
              - {name: spot, minReplicas: 1}
        gitops: {engine: argocd, topology: hub-spoke, hub: hubb}
        """
    )
    found = problems(host, data)
    assert "must be odd" in found["clusters[0].controlPlane.replicas"]
    assert "overlaps" in found["clusters[0].network.services"]
    assert "duplicates clusters[0].name" in found["clusters[1].name"]
    assert "did you mean 'a-1'" not in found["gitops.hub"] and "not a cluster" in found["gitops.hub"]
    # the fleet-wide check stops before per-cluster checks only when the structure is broken;
    # here both kinds are reported together


def test_pool_rules_after_merging(host):
    data = fleet(
        """
        clusters:
          - name: a-1
            environment: dev
            provider: fake
            region: r
            workers:
              - {name: general, minReplicas: 5, maxReplicas: 2}
              - {name: spot, minReplicas: 1}
              - {name: extra, replicas: 1}
              - {name: extra, replicas: 2}
        """
    )
    found = problems(host, data)
    assert "larger than maxReplicas" in found["clusters[0].workers.general.minReplicas"]
    assert "together with minReplicas" in found["clusters[0].workers.spot.maxReplicas"]
    assert "duplicate worker pool" in found["clusters[0].workers[3].name"]


def test_hub_spoke_needs_a_hub(host):
    data = fleet("gitops: {engine: argocd, topology: hub-spoke}")
    assert "required" in problems(host, data)["gitops.hub"]


def test_region_required_and_kubernetes_version_required(host):
    data = fleet(
        """
        defaults: {}
        clusters: [{name: a-1, environment: dev, provider: fake}]
        """
    )
    found = problems(host, data)
    assert "required by provider 'fake'" in found["clusters[0].region"]
    assert "not set in any layer" in found["clusters[0].kubernetesVersion"]


def test_wrong_types_are_named(host):
    data = fleet(
        """
        defaults:
          kubernetesVersion: 1.30
          controlPlane: {replicas: "three"}
          workers: {general: 1}
        """
    )
    found = problems(host, data)
    assert "must be a string" in found["defaults.kubernetesVersion"]
    assert "whole number" in found["defaults.controlPlane.replicas"]
    assert "must be a list" in found["defaults.workers"]


def test_not_yaml_and_not_a_mapping(host):
    with pytest.raises(FleetError) as caught:
        parse_fleet("clusters: [\n  - name: a", host)
    assert "line" in str(caught.value) and "not valid YAML" in str(caught.value)
    with pytest.raises(FleetError):
        parse_fleet("- just\n- a list\n", host)


def test_wrong_api_version_and_kind(host):
    data = fleet()
    data["apiVersion"], data["kind"] = "dokaseca.io/v1", "Fleett"
    found = problems(host, data)
    assert "dokaseca.io/v1alpha1" in found["apiVersion"]
    assert "did you mean 'Fleet'" in found["kind"]


def test_select_filters_and_rejects_unknown_names(host):
    data = fleet(
        """
        clusters:
          - {name: dev-1, environment: dev, provider: fake, region: r}
          - {name: prod-1, environment: prod, provider: fake, region: r}
        """
    )
    loaded = load(host, data)
    assert [c.name for c in loaded.select(environments=("prod",))] == ["prod-1"]
    assert [c.name for c in loaded.select(clusters=("dev-1",))] == ["dev-1"]
    with pytest.raises(FleetError) as caught:
        loaded.select(clusters=("prod-2",))
    assert "did you mean 'prod-1'" in str(caught.value)


def test_secret_looking_values_are_never_echoed():
    from dokaseca.errors import Problem, is_sensitive

    assert is_sensitive("clusters[0].vsphere.password") and is_sensitive("bmc.token")
    assert not is_sensitive("clusters[0].aws.identity.secretName") and not is_sensitive("passwordFile")
    problem = Problem(path="clusters[0].x.password", message="must be a string", value=["hunter2"])
    assert "hunter2" not in str(problem) and "hunter2" not in str(problem.to_json())
    assert "<redacted>" in str(problem)


def test_structural_errors_on_secret_keys_hide_the_value(host):
    from dokaseca.config import structure_problems
    from dokaseca.validators import InvalidValue

    problems = structure_problems(InvalidValue("must be a string", "hunter2"), "clusters[0].x.password", str)
    assert problems and all("hunter2" not in str(p) for p in problems)


@pytest.mark.parametrize("where", ["cluster", "defaults", "environment"])
def test_a_cidr_with_host_bits_is_one_problem_not_a_crash_of_the_cross_field_checks(host, where):
    data = fleet()
    bad = {"network": {"pods": ["10.0.0.1/16"], "services": ["10.0.0.0/12"]}}
    if where == "cluster":
        data["clusters"][0].update(bad)
        path = "clusters[0].network.pods"
    elif where == "defaults":
        data["defaults"].update(bad)
        path = "defaults.network.pods"
    else:
        data["environments"] = {"dev": bad}
        path = "environments.dev.network.pods"
    found = problems(host, data)
    assert list(found) == [path], "the overlap with services is not judged on a block that is itself wrong"
    assert "10.0.0.1/16" in found[path]
