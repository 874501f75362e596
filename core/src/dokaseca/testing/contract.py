"""The conformance suite every provider's tests inherit.

::

    from dokaseca.testing import ProviderContract

    class TestContract(ProviderContract):
        plugin_module = "dokaseca_hetzner.plugin"
        provider_name = "hetzner"
        sample_config = {"location": "fsn1"}
        region = "fsn1"
        crd_folders = ("capi", "caph")

Each flavor the provider registers is rendered in classic mode, and in
ClusterClass mode where it says it supports it; the output must validate
against the CRDs in ``shared/crds/<crd_folders>``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import attrs
import pytest

from dokaseca.config import parse_fleet
from dokaseca.errors import FleetError
from dokaseca.kube import ManagementCluster
from dokaseca.manifests import dump_all, versioned_name
from dokaseca.models import ClusterSpec, InfraResult, ProviderInfo
from dokaseca.plugins import PluginHost, load_plugins
from dokaseca.testing.helpers import fleet_yaml, render_objects
from dokaseca.testing.shared import crd_schemas_for


class ProviderContract:
    plugin_module: str = ""
    provider_name: str = ""
    sample_config: dict[str, Any] = {}
    region: Optional[str] = "region-1"
    crd_folders: tuple[str, ...] = ("capi",)
    kubernetes_version: str = "v1.33.1"

    # -- helpers a subclass may use ------------------------------------------------

    @pytest.fixture
    def plugin(self) -> Any:
        return importlib.import_module(self.plugin_module)

    @pytest.fixture
    def host(self, plugin: Any) -> PluginHost:
        return load_plugins(autoload=False, extra=[(self.provider_name, plugin)])

    @pytest.fixture
    def provider(self, host: PluginHost) -> ProviderInfo:
        return host.providers[self.provider_name]

    def fleet_text(self, *, flavor: str = "kubeadm", mode: str = "classic", config: Optional[dict] = None) -> str:
        return fleet_yaml(
            self.provider_name,
            self.sample_config if config is None else config,
            name="contract-1",
            region=self.region,
            mode=mode,
            workers=[
                {"name": "general", "replicas": 2},
                {"name": "batch", "minReplicas": 1, "maxReplicas": 5, "labels": {"workload": "batch"}},
            ],
            kubernetes_version=self.kubernetes_version,
            fleet_name="contract",
            flavor=flavor,
        )

    def cluster(self, host: PluginHost, **kwargs: Any) -> ClusterSpec:
        return parse_fleet(self.fleet_text(**kwargs), host).clusters[0]

    def combinations(self, provider: ProviderInfo) -> list[tuple[str, str]]:
        combos = [(flavor, "classic") for flavor in provider.flavors]
        combos += [(flavor, "clusterclass") for flavor in provider.clusterclass_flavors]
        return combos

    # -- the contract ---------------------------------------------------------------

    def test_registers_exactly_its_provider(self, host: PluginHost) -> None:
        record = next(r for r in host.records if r.name == self.provider_name)
        assert record.status == "loaded", record.error
        assert record.providers == (self.provider_name,)

    def test_provider_info_is_complete(self, provider: ProviderInfo) -> None:
        assert attrs.has(provider.config_class()), "config_type must be an attrs class (or its 'module:Class' path)"
        assert provider.flavors, "register at least one flavor"
        assert set(provider.clusterclass_flavors) <= set(provider.flavors)
        assert provider.sdk_modules, "name the SDK modules so `plugins` can report them"
        assert provider.description

    def test_returns_none_for_a_foreign_provider(self, plugin: Any, host: PluginHost, provider: ProviderInfo) -> None:
        foreign = attrs.evolve(provider, name="someone-else")
        cluster = self.cluster(host)
        for hook_name, kwargs in (
            ("render_provider_manifests", {"cluster": cluster, "provider": foreign, "infra": InfraResult()}),
            # A management cluster that cannot be reached: a foreign provider must not even try.
            ("prepare_infrastructure", {"cluster": cluster, "provider": foreign, "dry_run": True, "management": ManagementCluster("/nonexistent/kubeconfig")}),
            ("check_credentials", {"provider": foreign, "online": False}),
            ("check_cluster", {"cluster": cluster, "provider": foreign}),
            ("gitops_metadata", {"cluster": cluster, "provider": foreign, "infra": InfraResult()}),
        ):
            impl = getattr(plugin, hook_name, None)
            if impl is not None:
                accepted = inspect.signature(impl).parameters  # as pluggy does: pass only what the function declares
                answer = impl(**{name: value for name, value in kwargs.items() if name in accepted})
                assert answer is None, f"{hook_name} must return None for a provider it did not register"

    def test_every_flavor_and_mode_renders_valid_manifests(self, host: PluginHost, provider: ProviderInfo, request: pytest.FixtureRequest) -> None:
        schemas = crd_schemas_for(self.crd_folders, start=Path(str(request.fspath)).parent)
        for flavor, mode in self.combinations(provider):
            objects = render_objects(host, self.fleet_text(flavor=flavor, mode=mode))
            kinds = [o["kind"] for o in objects]
            assert "Cluster" in kinds, (flavor, mode)
            for obj in objects:
                assert obj.get("apiVersion") and obj.get("kind") and obj.get("metadata", {}).get("name"), obj
            problems = schemas.validate_all(objects)
            assert not problems, f"{flavor}/{mode}:\n" + "\n".join(f"{p.document} {p.path}: {p.message}" for p in problems)

    def test_references_resolve(self, host: PluginHost, provider: ProviderInfo) -> None:
        for flavor, mode in self.combinations(provider):
            objects = render_objects(host, self.fleet_text(flavor=flavor, mode=mode))
            present = {(o["kind"], o["metadata"]["name"]) for o in objects}
            for ref in _references(objects):
                assert (ref["kind"], ref["name"]) in present or ref["kind"].endswith("Identity") or ref["kind"] == "Secret", (
                    f"{flavor}/{mode}: dangling reference {ref}"
                )

    def test_templates_are_named_after_their_content(self, host: PluginHost, provider: ProviderInfo) -> None:
        """Machine templates are immutable: a change must come as a new name (``versioned_name``)."""
        for flavor, mode in self.combinations(provider):
            provided = host.hook.render_provider_manifests(cluster=self.cluster(host, flavor=flavor, mode=mode), provider=provider, infra=InfraResult())
            templates = [*provided.worker_machine_templates.values(), *provided.worker_machine_pool_templates.values()]
            if provided.control_plane_machine_template is not None:
                templates.append(provided.control_plane_machine_template)
            if mode == "clusterclass":
                templates.append(provided.infrastructure_cluster)
            for template in templates:
                name = template["metadata"]["name"]
                assert name.endswith(versioned_name("", template["spec"])), (
                    f"{flavor}/{mode}: {template['kind']} {name!r} is not named after its spec; use dokaseca.manifests.versioned_name"
                )

    def test_render_is_deterministic(self, host: PluginHost, provider: ProviderInfo) -> None:
        for flavor, mode in self.combinations(provider):
            first = dump_all(render_objects(host, self.fleet_text(flavor=flavor, mode=mode)))
            second = dump_all(render_objects(host, self.fleet_text(flavor=flavor, mode=mode)))
            assert first == second

    def test_unknown_config_key_is_reported_with_its_path(self, host: PluginHost) -> None:
        with pytest.raises(FleetError) as caught:
            parse_fleet(self.fleet_text(config={**self.sample_config, "definitelyNotAField": 1}), host)
        paths = [(p.path, p.message) for p in caught.value.problems]
        assert any(path.startswith(f"clusters[0].{self.provider_name}") and "definitelyNotAField" in message for path, message in paths), paths

    def test_wrong_type_is_reported_with_its_path(self, host: PluginHost, provider: ProviderInfo) -> None:
        from dokaseca.config import camel

        text_fields = [a for a in attrs.fields(provider.config_class()) if a.type in (str, "str")]
        if not text_fields:
            pytest.skip("the config class has no plain string field to corrupt")
        field = camel(text_fields[0].name)
        with pytest.raises(FleetError) as caught:
            parse_fleet(self.fleet_text(config={**self.sample_config, field: ["not", "a", "string"]}), host)
        assert f"clusters[0].{self.provider_name}.{field}" in [p.path for p in caught.value.problems]

    def test_render_imports_no_sdk(self, provider: ProviderInfo) -> None:
        script = textwrap.dedent(
            f"""
            import sys, json, importlib.abc
            blocked = {json.dumps(list(provider.sdk_modules))}
            class Block(importlib.abc.MetaPathFinder):
                def find_spec(self, name, path=None, target=None):
                    if any(name == b or name.startswith(b + ".") for b in blocked):
                        raise ImportError("blocked SDK import: " + name)
            sys.meta_path.insert(0, Block())
            import importlib
            from dokaseca.plugins import load_plugins
            from dokaseca.config import parse_fleet
            from dokaseca.render import render_cluster
            host = load_plugins(autoload=False, extra=[({self.provider_name!r}, importlib.import_module({self.plugin_module!r}))])
            fleet = parse_fleet(sys.stdin.read(), host)
            render_cluster(host, fleet.clusters[0])
            loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in blocked))
            assert not loaded, loaded
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script], input=self.fleet_text(), capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr


def _references(objects: Any) -> list[dict[str, str]]:
    """Every ``{kind, name}`` reference inside the objects (refs and templateRefs)."""
    found: list[dict[str, str]] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            if key.endswith(("Ref", "templateRef")) and "kind" in node and "name" in node:
                found.append(node)
            for child_key, child in node.items():
                walk(child, child_key)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)

    for obj in objects:
        walk(obj.get("spec", {}))
    return found


__all__ = ["ProviderContract"]
