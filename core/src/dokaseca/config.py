"""Load a fleet file: YAML -> attrs models -> one effective ClusterSpec per cluster.

Every problem is collected and raised together as a :class:`FleetError`, each
with the path where it is written (``clusters[2].aws.region``), the bad value
and a hint. Nothing here touches the network or imports an SDK.

How it is done: cattrs structures the YAML with attrs validators switched off,
so one bad value does not hide the next; then :func:`validate_tree` runs every
field's validator and records its path; then the layers are merged per
cluster (:mod:`dokaseca.layering`) and the cross-field rules are checked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import attrs
import cattrs
import yaml
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from dokaseca import layering
from dokaseca.errors import FleetError, Problem, is_sensitive
from dokaseca.models import ClusterEntry, ClusterSpec, FleetFile
from dokaseca.plugins import FIRST_PARTY_PROVIDERS, PluginHost, unknown_provider_message
from dokaseca.validators import InvalidValue, did_you_mean

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def yaml_key(attribute: attrs.Attribute) -> str:
    """The key a field is written under: camelCase of its name, or
    ``attrs.field(metadata={"key": "numCPUs"})`` where camelCase cannot say it."""
    return attribute.metadata.get("key") or camel(attribute.name)


def _renames(cls: type) -> dict[str, Any]:
    return {a.name: override(rename=yaml_key(a)) for a in attrs.fields(cls) if yaml_key(a) != a.name}


def make_converter() -> cattrs.Converter:
    """One converter for the fleet models and every provider's config class:
    camelCase keys, unknown keys rejected, all errors collected."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def structure_factory(cls: type) -> Any:
        inner = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **_renames(cls))

        def structure(value: Any, type_: Any) -> Any:
            if not isinstance(value, dict):
                raise InvalidValue("must be a mapping", value, "write it as 'key: value' lines")
            return inner(value, type_)

        return structure

    def unstructure_factory(cls: type) -> Any:
        return make_dict_unstructure_fn(cls, converter, **_renames(cls))

    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)

    def strict_str(value: Any, _: type) -> str:
        # cattrs would turn 1.30 into "1.3"; a version or name must be written as text.
        if not isinstance(value, str):
            raise InvalidValue("must be a string", value, "quote the value")
        return value

    def strict_int(value: Any, _: type) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue("must be a whole number", value)
        return value

    def strict_bool(value: Any, _: type) -> bool:
        if not isinstance(value, bool):
            raise InvalidValue("must be true or false", value)
        return value

    def sequence_factory(type_: Any) -> Any:
        # cattrs would accept a mapping or a string as a list of its keys or characters.
        from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory

        is_tuple = getattr(type_, "__origin__", type_) is tuple
        inner = (homogenous_tuple_structure_factory if is_tuple else list_structure_factory)(type_, converter)

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise InvalidValue("must be a list", value, "write it as a YAML sequence ('- item')")
            return inner(value, type_)

        return structure

    def mapping_factory(type_: Any) -> Any:
        from cattrs.cols import mapping_structure_factory

        inner = mapping_structure_factory(type_, converter)

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, dict):
                raise InvalidValue("must be a mapping", value, "write it as 'key: value' lines")
            return inner(value, type_)

        return structure

    from cattrs.cols import is_mapping

    converter.register_structure_hook_factory(
        lambda t: _is_homogenous_tuple(t) or getattr(t, "__origin__", None) is list, sequence_factory
    )
    converter.register_structure_hook_factory(is_mapping, mapping_factory)
    converter.register_structure_hook(str, strict_str)
    converter.register_structure_hook(int, strict_int)
    converter.register_structure_hook(bool, strict_bool)
    return converter


def _is_homogenous_tuple(type_: Any) -> bool:
    args = getattr(type_, "__args__", ())
    return getattr(type_, "__origin__", None) is tuple and len(args) == 2 and args[1] is Ellipsis


@attrs.frozen(kw_only=True)
class Fleet:
    """A loaded fleet: the file as written and each cluster's effective settings."""

    file: FleetFile
    clusters: tuple[ClusterSpec, ...]
    provenance: Mapping[str, tuple[layering.Setting, ...]]
    source: str = ""

    def select(self, environments: tuple[str, ...] = (), clusters: tuple[str, ...] = ()) -> tuple[ClusterSpec, ...]:
        unknown = [n for n in clusters if n not in {c.name for c in self.clusters}]
        if unknown:
            names = [c.name for c in self.clusters]
            raise FleetError(
                [Problem(path="--cluster", message="no such cluster", value=n, hint=did_you_mean(n, names)) for n in unknown],
                self.source,
            )
        known_envs = {c.environment for c in self.clusters} | set(self.file.environments) | set(layering.BUILTIN_ENVIRONMENTS)
        bad_envs = [e for e in environments if e not in known_envs]
        if bad_envs:
            raise FleetError(
                [Problem(path="--env", message="no such environment", value=e, hint=did_you_mean(e, known_envs)) for e in bad_envs],
                self.source,
            )
        return tuple(
            c
            for c in self.clusters
            if (not environments or c.environment in environments) and (not clusters or c.name in clusters)
        )


def load_fleet(path: str | os.PathLike, host: PluginHost) -> Fleet:
    """Read and validate a fleet file; raise FleetError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetError([Problem(path="", message=f"cannot read the fleet file: {exc.strerror}", value=str(path))]) from None
    return parse_fleet(text, host, source=str(path))


def parse_fleet(text: str, host: PluginHost, source: str = "<string>") -> Fleet:
    try:
        raw = yaml.load(text, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FleetError([Problem(path="", message=f"not valid YAML{where}: {problem}")], source) from None
    if not isinstance(raw, dict):
        raise FleetError(
            [Problem(path="", message="must be a YAML mapping with apiVersion, kind, metadata and clusters", value=type(raw).__name__)],
            source,
        )
    return _FleetLoader(host, source).load(raw)


class _FleetLoader:
    def __init__(self, host: PluginHost, source: str) -> None:
        self.host = host
        self.source = source
        self.converter = make_converter()
        self.problems: list[Problem] = []

    def load(self, raw: dict[str, Any]) -> Fleet:
        provider_blocks = self._extract_provider_blocks(raw)
        # Clusters are structured one by one so a broken entry does not hide
        # the problems of the others.
        raw_clusters = raw.pop("clusters", [])
        fleet_file = self._structure(raw, FleetFile, "")
        entries: list[tuple[int, ClusterEntry]] = []
        if not isinstance(raw_clusters, list):
            self.problems.append(Problem(path="clusters", message="must be a list of clusters", value=raw_clusters))
            raw_clusters = []
        for index, raw_cluster in enumerate(raw_clusters):
            entry = self._structure(raw_cluster, ClusterEntry, f"clusters[{index}]")
            if entry is not None:
                entries.append((index, entry))
        if fleet_file is None:
            raise FleetError(sorted(self.problems, key=_problem_order), self.source)
        with attrs.validators.disabled():  # problems found so far are already recorded
            fleet_file = attrs.evolve(fleet_file, clusters=tuple(entry for _, entry in entries))
        self._check_fleet(fleet_file, entries)
        clusters: list[ClusterSpec] = []
        provenance: dict[str, tuple[layering.Setting, ...]] = {}
        for index, entry in entries:
            built = self._cluster(fleet_file, index, entry, provider_blocks)
            if built is not None:
                clusters.append(built[0])
                provenance[entry.name] = built[1]
        if self.problems:
            raise FleetError(sorted(self.problems, key=_problem_order), self.source)
        return Fleet(file=fleet_file, clusters=tuple(clusters), provenance=provenance, source=self.source)

    # -- provider blocks -------------------------------------------------

    def _extract_provider_blocks(self, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Take ``aws:``-style blocks out of every layer before cattrs sees them.

        Returns layer path (``defaults``, ``environments.dev``, ``clusters[0]``)
        -> provider name -> raw block.
        """
        names = set(self.host.providers) | set(FIRST_PARTY_PROVIDERS)
        blocks: dict[str, dict[str, Any]] = {}

        def take(layer_path: str, layer: Any) -> None:
            if not isinstance(layer, dict):
                return
            for key in [k for k in layer if isinstance(k, str) and k in names]:
                blocks.setdefault(layer_path, {})[key] = layer.pop(key)

        take("defaults", raw.get("defaults"))
        envs = raw.get("environments")
        if isinstance(envs, dict):
            for env_name, env in envs.items():
                take(f"environments.{env_name}", env)
        clusters = raw.get("clusters")
        if isinstance(clusters, list):
            for index, cluster in enumerate(clusters):
                take(f"clusters[{index}]", cluster)
        for layer_path, by_provider in blocks.items():
            for name, block in by_provider.items():
                if name not in self.host.providers:
                    self.problems.append(
                        Problem(path=f"{layer_path}.{name}", message=unknown_provider_message(name, self.host.providers))
                    )
                elif block is not None and not isinstance(block, dict):
                    self.problems.append(
                        Problem(path=f"{layer_path}.{name}", message="must be a mapping of provider settings", value=block)
                    )
        return blocks

    # -- structuring with every error collected --------------------------

    def _structure(self, raw: Any, cls: type, path: str) -> Any:
        with attrs.validators.disabled():
            try:
                obj = self.converter.structure(raw, cls)
            except Exception as exc:  # cattrs raises exception groups of everything wrong
                self.problems.extend(structure_problems(exc, path, cls))
                return None
        self.problems.extend(validate_tree(obj, path))
        return obj

    # -- fleet-wide rules --------------------------------------------------

    def _check_fleet(self, fleet_file: FleetFile, entries: list[tuple[int, ClusterEntry]]) -> None:
        seen: dict[str, int] = {}
        for index, entry in entries:
            if entry.name in seen:
                self.problems.append(
                    Problem(
                        path=f"clusters[{index}].name",
                        message=f"duplicates clusters[{seen[entry.name]}].name",
                        value=entry.name,
                        hint="cluster names must be unique in a fleet",
                    )
                )
            seen.setdefault(entry.name, index)
        for env_name in fleet_file.environments:
            if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", env_name):
                self.problems.append(
                    Problem(path=f"environments.{env_name}", message="environment names must be DNS-1123 labels", value=env_name)
                )
        gitops = fleet_file.gitops
        if gitops is not None and gitops.topology == "hub-spoke":
            if not gitops.hub:
                self.problems.append(
                    Problem(path="gitops.hub", message="is required when topology is 'hub-spoke'", hint="name the cluster that runs Argo CD")
                )
            elif gitops.hub not in seen:
                self.problems.append(
                    Problem(path="gitops.hub", message="is not a cluster of this fleet", value=gitops.hub, hint=did_you_mean(gitops.hub, seen))
                )
            if gitops.engine != "argocd":
                self.problems.append(
                    Problem(path="gitops.engine", message="hub-spoke needs Argo CD on the hub", value=gitops.engine, hint="set engine: argocd")
                )
        for index, entry in entries:
            self._check_pool_names(f"clusters[{index}]", entry)
        self._check_pool_names("defaults", fleet_file.defaults)
        for env_name, env in fleet_file.environments.items():
            self._check_pool_names(f"environments.{env_name}", env)

    def _check_pool_names(self, path: str, layer: Any) -> None:
        names = [pool.name for pool in layer.workers or ()]
        for index, name in enumerate(names):
            if name in names[:index]:
                self.problems.append(
                    Problem(path=f"{path}.workers[{index}].name", message="duplicate worker pool name", value=name)
                )

    def _has_problems_under(self, *paths: str) -> bool:
        return any(p.path == path or p.path.startswith((path + ".", path + "[")) for p in self.problems for path in paths)

    # -- one cluster ---------------------------------------------------------

    def _cluster(
        self, fleet_file: FleetFile, index: int, entry: Any, provider_blocks: dict[str, dict[str, Any]]
    ) -> tuple[ClusterSpec, tuple[layering.Setting, ...]] | None:
        path = f"clusters[{index}]"
        known_envs = set(layering.BUILTIN_ENVIRONMENTS) | set(fleet_file.environments)
        if entry.environment not in known_envs:
            self.problems.append(
                Problem(
                    path=f"{path}.environment",
                    message="is not a defined environment",
                    value=entry.environment,
                    hint=did_you_mean(entry.environment, known_envs) + " (or add it under environments:)",
                )
            )
            return None
        provider = self.host.providers.get(entry.provider)
        if provider is None:
            self.problems.append(
                Problem(path=f"{path}.provider", message=unknown_provider_message(entry.provider, self.host.providers), value=entry.provider)
            )
            return None
        for other in sorted(provider_blocks.get(path, {})):
            if other != entry.provider and other in self.host.providers:
                self.problems.append(
                    Problem(
                        path=f"{path}.{other}",
                        message=f"is a {other!r} block but the cluster's provider is {entry.provider!r}",
                        hint=f"rename it to {entry.provider}: or change provider:",
                    )
                )
        if entry.flavor not in provider.flavors:
            self.problems.append(
                Problem(
                    path=f"{path}.flavor",
                    message=f"is not a flavor of provider {provider.name!r}",
                    value=entry.flavor,
                    hint=did_you_mean(entry.flavor, provider.flavors),
                )
            )
            return None
        if entry.mode == "clusterclass" and entry.flavor not in provider.clusterclass_flavors:
            self.problems.append(
                Problem(
                    path=f"{path}.mode",
                    message=f"provider {provider.name!r} cannot render flavor {entry.flavor!r} in ClusterClass mode",
                    value=entry.mode,
                    hint="use mode: classic, or one of the flavors " + ", ".join(provider.clusterclass_flavors),
                )
            )
        if provider.requires_region and not entry.region:
            self.problems.append(
                Problem(path=f"{path}.region", message=f"is required by provider {provider.name!r}", hint="set the region or location to create the cluster in")
            )

        layers = layering.layers_for(fleet_file, index, entry)
        merged = layering.merge(layers)
        block, block_sources = layering.merge_provider_blocks(
            [(layer_name, provider_blocks.get(layer_path, {}).get(provider.name)) for layer_name, layer_path in layering.block_layers(entry, index)]
        )
        before = len(self.problems)
        config = self._structure(block, provider.config_class(), f"{path}.{provider.name}")
        self.problems[before:] = [_say_where_from(p, f"{path}.{provider.name}", block_sources, path) for p in self.problems[before:]]
        self.problems.extend(layering.check_effective(merged, path, entry))
        if config is None or len(self.problems) > before or self._has_problems_under(path, "defaults", f"environments.{entry.environment}"):
            return None  # providers' checks see only clusters whose every value is valid (a bad CIDR cannot be compared)
        management = fleet_file.management
        namespace = entry.environment if management.namespaces == "per-environment" else entry.name
        spec = layering.to_cluster_spec(
            merged,
            entry=entry,
            fleet=fleet_file.metadata.name,
            namespace=management.namespace_prefix + namespace,
            provider_config=config,
            gitops=fleet_file.gitops,
            source=self.source,
        )
        for answer in self.host.hook.check_cluster(cluster=spec, provider=provider):
            self.problems.extend(attrs.evolve(problem, path=_join(path, problem.path)) for problem in answer or ())
        # Every effective provider value, the class defaults included, as the user would write it.
        effective = layering.flatten(self.converter.unstructure(config))
        settings = merged.settings + tuple(
            layering.Setting(
                path=f"{provider.name}.{key}",
                value=value,
                source=block_sources.get(key, f"default of the {provider.name} provider"),
            )
            for key, value in effective.items()
            if value is not None
        )
        return spec, settings


def _say_where_from(problem: Problem, block_path: str, sources: Mapping[str, str], cluster_path: str) -> Problem:
    """Point at the layer a bad provider value was inherited from."""
    origin = sources.get(problem.path.removeprefix(block_path + "."))
    if not origin or origin == cluster_path:
        return problem
    block = block_path.rsplit(".", 1)[-1]
    return attrs.evolve(problem, hint=(problem.hint + "; " if problem.hint else "") + f"the value comes from {origin}.{block}")


def validate_tree(obj: Any, path: str) -> list[Problem]:
    """Run every attrs field validator below ``obj`` and report each failure
    at its path. Works for the fleet models and for provider config classes."""
    problems: list[Problem] = []
    for field_path, instance, attribute, value in _walk(obj, path):
        if attribute.validator is None:
            continue
        try:
            attribute.validator(instance, attribute, value)
        except InvalidValue as exc:
            problems.append(Problem(path=field_path, message=exc.message, value=exc.value, hint=exc.hint))
        except (ValueError, TypeError) as exc:
            problems.append(Problem(path=field_path, message=_attrs_message(exc, attribute.name), value=value))
    return problems


def _walk(obj: Any, path: str) -> Iterator[tuple[str, Any, attrs.Attribute, Any]]:
    if attrs.has(type(obj)):
        for attribute in attrs.fields(type(obj)):
            value = getattr(obj, attribute.name)
            child = _join(path, yaml_key(attribute))
            yield child, obj, attribute, value
            yield from _walk(value, child)
    elif isinstance(obj, (list, tuple)):
        for index, item in enumerate(obj):
            yield from _walk(item, f"{path}[{index}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _walk(item, _join(path, str(key)))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _attrs_message(exc: Exception, name: str) -> str:
    # attrs' own validators say "'replicas' must be >= 1: 0"; the path already names the field.
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.replace(f"'{name}' ", "", 1)


_PATH_INDEX = re.compile(r"\[(?:'([^']*)'|\"([^\"]*)\")\]")


def structure_problems(exc: BaseException, base: str, cls: type) -> list[Problem]:
    """Turn cattrs' exception group into problems with YAML-style paths under
    ``base``, so a block a plugin loads from its own file reads like the fleet's."""
    from cattrs.errors import ForbiddenExtraKeysError
    from cattrs.v import transform_error

    def describe(error: BaseException, type_: Any) -> str:
        if isinstance(error, ForbiddenExtraKeysError):
            allowed = [yaml_key(a) for a in attrs.fields(error.cl)] if attrs.has(error.cl) else []
            keys = sorted(map(str, error.extra_fields))
            hints = [f"{k!r} ({did_you_mean(k, allowed)})" for k in keys]
            return "unknown key(s) " + ", ".join(hints)
        if isinstance(error, InvalidValue):
            return f"{error.message} (got {error.value!r})" + (f"; {error.hint}" if error.hint else "")
        if isinstance(error, KeyError):
            return "required key is missing"
        if isinstance(error, (ValueError, TypeError)) and type_ is not None:
            return f"has the wrong type: expected {_type_name(type_)}"
        return f"is invalid ({error})"

    if not isinstance(exc, (cattrs.BaseValidationError, KeyError, ValueError, TypeError)):
        raise exc
    problems = []
    for line in transform_error(exc, path="$", format_exception=describe):
        message, _, where = line.rpartition(" @ ")
        where = _PATH_INDEX.sub(lambda m: "." + (m.group(1) or m.group(2) or ""), where)
        where = where.removeprefix("$").lstrip(".")
        where = _yaml_path(cls, where)
        path = _join(base, where) if where else base
        if is_sensitive(path) and "(got " in message:
            message = "has an invalid value (not shown: the key looks like it holds a secret)"
        problems.append(Problem(path=path, message=message))
    return problems


def _yaml_path(cls: Any, where: str) -> str:
    """cattrs names attributes (``num_cpus``); users wrote keys (``numCPUs``)."""
    out, type_ = [], cls
    for segment in (p for p in where.split(".") if p):
        name, bracket, rest = segment.partition("[")
        type_ = _unwrap_optional(type_)
        if attrs.has(type_) and name in attrs.fields_dict(type_):
            field = attrs.fields_dict(type_)[name]
            out.append(yaml_key(field) + bracket + rest)
            type_ = field.type
        else:
            out.append(segment)
            type_ = _item_type(type_) if _is_mapping_type(type_) else None
        for _ in range((bracket + rest).count("[")):
            type_ = _item_type(_unwrap_optional(type_))
    return ".".join(out)


def _unwrap_optional(type_: Any) -> Any:
    args = [a for a in getattr(type_, "__args__", ()) if a is not type(None)]
    return args[0] if type(None) in getattr(type_, "__args__", ()) and len(args) == 1 else type_


def _is_mapping_type(type_: Any) -> bool:
    return getattr(_unwrap_optional(type_), "__origin__", None) in (dict, Mapping)


def _item_type(type_: Any) -> Any:
    args = getattr(type_, "__args__", ())
    return args[-1] if args and args[-1] is not Ellipsis else (args[0] if args else None)


def _type_name(type_: Any) -> str:
    origin = getattr(type_, "__origin__", None)
    if type_ in (str, int, bool, float):
        return {str: "a string", int: "a whole number", bool: "true or false", float: "a number"}[type_]
    if origin in (tuple, list) or type_ in (tuple, list):
        return "a list"
    if origin is dict or type_ is dict or attrs.has(type_):
        return "a mapping"
    return getattr(type_, "__name__", str(type_))


def _problem_order(problem: Problem) -> tuple:
    # clusters[10] sorts after clusters[9]
    return tuple((0, int(p), "") if re.fullmatch(r"[0-9]+", p) else (1, 0, p) for p in re.split(r"[\[\]\.]", problem.path))
