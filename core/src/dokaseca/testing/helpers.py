"""Building blocks for a provider's own render tests: write a one-cluster
fleet, render it, and pick objects out of the result.

::

    from dokaseca.testing import OneClusterFleet, content_named, one

    FLEET = OneClusterFleet("hetzner", {"location": "fsn1"}, name="web-1", region="fsn1")
    objects = FLEET.render(host, FLEET.with_config(sshKeys=["ops"]), mode="clusterclass")
    one(objects, "HetznerClusterTemplate")
    content_named(objects, "HCloudMachineTemplate", "web-1-general")

They know CAPI and the fleet file, nothing of any provider.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Mapping, Optional

import pytest
import yaml

from dokaseca.config import parse_fleet
from dokaseca.errors import FleetError, Problem
from dokaseca.manifests import versioned_name
from dokaseca.models import ClusterSpec, InfraResult
from dokaseca.plugins import PluginHost
from dokaseca.prepare import prepare_cluster
from dokaseca.render import render_cluster


def fleet_yaml(
    provider: str,
    config: Mapping[str, Any],
    *,
    name: str = "cluster-1",
    environment: str = "prod",
    region: Optional[str] = None,
    mode: str = "classic",
    workers: Optional[list[dict[str, Any]]] = None,
    kubernetes_version: str = "v1.33.1",
    fleet_name: str = "acme",
    **cluster_fields: Any,
) -> str:
    """A fleet file with one cluster of ``provider``, its block being ``config``.

    ``cluster_fields`` are further keys of the cluster as the file spells them
    (``controlPlane={...}``, ``network={...}``, ``flavor="kubeadm"``). No
    region is written when ``region`` is None; one ``general`` pool of two
    machines when ``workers`` is None.
    """
    cluster: dict[str, Any] = {"name": name, "environment": environment, "provider": provider}
    if region is not None:
        cluster["region"] = region
    cluster["mode"] = mode
    cluster["workers"] = [{"name": "general", "replicas": 2}] if workers is None else workers
    cluster[provider] = config
    cluster.update(cluster_fields)
    fleet = {
        "apiVersion": "dokaseca.io/v1alpha1",
        "kind": "Fleet",
        "metadata": {"name": fleet_name},
        "defaults": {"kubernetesVersion": kubernetes_version},
        "clusters": [cluster],
    }
    return yaml.safe_dump(fleet, sort_keys=False)


def render_objects(host: PluginHost, fleet_text: str, infra: Optional[InfraResult] = None, index: int = 0) -> list[dict]:
    """Every object rendered for cluster ``index`` of ``fleet_text``."""
    cluster = parse_fleet(fleet_text, host).clusters[index]
    return list(render_cluster(host, cluster, infra).objects)


def fleet_problems(host: PluginHost, fleet_text: str) -> dict[str, Problem]:
    """The problems parsing ``fleet_text`` reports, by path; fails the test when it parses."""
    with pytest.raises(FleetError) as caught:
        parse_fleet(fleet_text, host)
    return {problem.path: problem for problem in caught.value.problems}


class OneClusterFleet:
    """Fleet files with one cluster of ``provider``, for a provider's render tests.

    ::

        FLEET = OneClusterFleet("gcp", {"project": "acme-web"}, name="web-1", region="europe-west1")
        FLEET.render(host, FLEET.with_config(machineType="n2-standard-4"), workers=[...])

    ``cluster`` holds the :func:`fleet_yaml` arguments every file of the
    module shares; a call may override any of them.
    """

    def __init__(self, provider: str, base_config: Mapping[str, Any], **cluster: Any) -> None:
        self.provider = provider
        self.base_config = base_config
        self.cluster = cluster

    def text(self, config: Optional[Mapping[str, Any]] = None, **cluster: Any) -> str:
        """The fleet file, with ``config`` (the base config when None) as the provider's block."""
        block = self.base_config if config is None else config
        return fleet_yaml(self.provider, block, **{**self.cluster, **cluster})

    def with_config(self, **changes: Any) -> dict[str, Any]:
        """A copy of the base config with top-level keys replaced; the base stays as it was for the next test."""
        config = copy.deepcopy(dict(self.base_config))
        config.update(changes)
        return config

    def render(self, host: PluginHost, config: Optional[Mapping[str, Any]] = None, infra: Optional[InfraResult] = None, **cluster: Any) -> list[dict]:
        return render_objects(host, self.text(config, **cluster), infra)

    def problems(self, host: PluginHost, config: Optional[Mapping[str, Any]] = None, **cluster: Any) -> dict[str, str]:
        """Each problem the file has, as text, by path; fails the test when there is none."""
        return {path: str(problem) for path, problem in fleet_problems(host, self.text(config, **cluster)).items()}


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str, name: Optional[str] = None) -> dict:
    """The only ``kind`` object (named ``name`` when given); fails the test otherwise."""
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def extra_args(value: Any) -> dict[str, str]:
    """kubeadm extra args as a dict: CAPI v1beta2 writes a name/value list, the
    v1beta1 clusterctl templates a mapping."""
    if isinstance(value, list):
        return {item["name"]: item["value"] for item in value}
    return dict(value or {})


def node_registrations(objects: list[dict]) -> list[dict]:
    """The kubeadm ``nodeRegistration``s of a rendering, in a fixed order: the first
    KubeadmControlPlane's init and join, then the first KubeadmConfigTemplate's join.
    Zip two renderings' lists to compare them phase by phase."""
    control_plane = by_kind(objects, "KubeadmControlPlane")[0]["spec"]["kubeadmConfigSpec"]
    worker = by_kind(objects, "KubeadmConfigTemplate")[0]["spec"]["template"]["spec"]
    return [
        control_plane["initConfiguration"]["nodeRegistration"],
        control_plane["joinConfiguration"]["nodeRegistration"],
        worker["joinConfiguration"]["nodeRegistration"],
    ]


def content_named(objects: list[dict], kind: str, base: str, *, digest_of_spec: bool = True) -> dict:
    """The only ``kind`` object whose name starts with ``base-``, which must be
    named as :func:`~dokaseca.manifests.versioned_name` names an immutable
    template: ``base`` and the 8-digit digest of its spec.

    Pass ``digest_of_spec=False`` for an object that was named and then
    completed by another hook: only the name's shape can be checked.
    """
    named = [o for o in by_kind(objects, kind) if o["metadata"]["name"].startswith(base + "-")]
    assert len(named) == 1, f"expected one {kind} {base}-<digest>, found {[o['metadata']['name'] for o in by_kind(objects, kind)]}"
    found = named[0]
    name = found["metadata"]["name"]
    assert re.fullmatch(re.escape(base) + r"-[0-9a-f]{8}", name), f"{kind} {name!r} is not named {base}-<digest>"
    if digest_of_spec:
        assert name == versioned_name(base, found["spec"]), f"{kind} {name!r} is not named after its spec"
    return found


# ${VAR}, ${VAR:=default}, ${VAR:-default}, ${VAR=default}; a default may nest one level (${A:=${B}-vnet}).
_TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[=-]((?:[^{}]|\{[^{}]*\})*))?\}")


def clusterctl_template(path: Path, values: Mapping[str, str]) -> list[dict]:
    """The documents of a clusterctl template, each ``${VARIABLE}`` filled from
    ``values``, else with the template's default, else with ``placeholder``.
    A missing file fails the test: a reference that is gone must not pass."""
    if not path.is_file():
        pytest.fail(f"reference template missing: {path}")

    def substitute(match: re.Match) -> str:
        variable, default = match.group(1), match.group(2)
        if variable in values:
            return values[variable]
        if default is not None:
            return _TEMPLATE_VARIABLE.sub(substitute, default)
        return "placeholder"

    text = _TEMPLATE_VARIABLE.sub(substitute, path.read_text(encoding="utf-8"))
    return [doc for doc in yaml.safe_load_all(text) if doc]


__all__ = [
    "OneClusterFleet",
    "by_kind",
    "clusterctl_template",
    "content_named",
    "fleet_problems",
    "fleet_yaml",
    "one",
    "render_objects",
]


def fleet_clusters(host: PluginHost, fleet_text: str) -> tuple[ClusterSpec, ...]:
    """The clusters of a fleet file, each with all its layers merged."""
    return parse_fleet(fleet_text, host).clusters


def prepared(host: PluginHost, cluster: ClusterSpec, *, dry_run: bool = False) -> InfraResult:
    """What the cluster's provider prepares, as ``dokaseca prepare`` asks it (no management cluster)."""
    result = prepare_cluster(host, cluster, management=None, dry_run=dry_run)  # type: ignore[arg-type]
    assert result is not None, f"no installed plugin prepares {cluster.provider!r}"
    return result


def prepare_text(host: PluginHost, fleet_text: str, *, dry_run: bool = False) -> InfraResult:
    """:func:`prepared` for the first cluster of a fleet file."""
    return prepared(host, fleet_clusters(host, fleet_text)[0], dry_run=dry_run)
