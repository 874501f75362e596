"""Validate rendered Kubernetes manifests against CustomResourceDefinition schemas.

`CRDSchemas.from_directory` reads every CRD found in a directory tree and
keeps the OpenAPI v3 schema of each *served* version, keyed by
``(apiVersion, kind)``.  `CRDSchemas.validate` then checks one rendered object
(a plain dict) the way a Kubernetes API server would when the object is
created: structural-schema validation plus pruning.

What is checked:

* unknown fields -- the API server silently prunes fields that the schema does
  not declare (unless ``x-kubernetes-preserve-unknown-fields`` is set).  A
  silently dropped field is almost always a typo or a field from another API
  version, so it is reported as a problem instead;
* required fields, types (``integer`` rejects booleans), ``nullable``,
  ``enum``, ``pattern``, string lengths, numeric bounds, item and property
  counts, ``x-kubernetes-int-or-string``, ``x-kubernetes-embedded-resource``
  and maps (``additionalProperties`` given as a schema);
* ``metadata``, which CRD schemas leave to the API server: ``name`` is
  required and must be a DNS-1123 subdomain, ``namespace`` a DNS-1123 label,
  labels and annotations maps of strings with valid keys (and valid label
  values), and no fields outside ObjectMeta;
* ``status`` is not validated but is reported when present: controllers own
  it, so a rendered manifest that carries one is wrong.

Limits:

* CEL rules (``x-kubernetes-validations``) are NOT evaluated -- there is no
  CEL interpreter among our dependencies -- so cross-field rules and
  immutability rules are not checked;
* ``format`` (``int32``, ``date-time``, ``uri``, ...) is ignored, as are
  defaults: a missing field with a default is not invented;
* regular expressions run on Python's ``re`` rather than Go's RE2; the
  patterns found in upstream CRDs behave the same in both;
* ``validate`` does not know the server's built-in kinds (Secret, ConfigMap,
  ...); `CRDSchemas.validate_all` can skip them by apiVersion.

The schemas are translated into JSON Schema (Draft 7) and checked with the
``jsonschema`` library; the translation and the validator for a kind are
built on first use and cached.  ``jsonschema`` is imported lazily so that
importing this module costs nothing when no validation is asked for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

__all__ = ["CRDSchemas", "SchemaProblem"]

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CRD_MARKER = b"CustomResourceDefinition"

# OpenAPI keywords that carry over to JSON Schema unchanged.  Everything else
# (descriptions, defaults, formats, x-kubernetes-* hints) is dropped: it is
# either handled explicitly below or irrelevant to validation, and leaving it
# out keeps the translated schemas small and quick to walk.
_COPIED_KEYWORDS = (
    "type",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
)
_COMBINATOR_KEYWORDS = ("allOf", "anyOf", "oneOf")
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]

_DNS1123_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_PLAIN_PATH_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")

_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_MAX_ANNOTATIONS_BYTES = 256 * 1024


@attrs.frozen(kw_only=True)
class SchemaProblem:
    """One reason the API server would reject (or silently alter) an object."""

    document: str
    path: str
    message: str


def _problem_sort_key(problem: SchemaProblem) -> tuple[str, str, str]:
    return (problem.document, problem.path, problem.message)


class CRDSchemas:
    """OpenAPI schemas of served CRD versions, keyed by (apiVersion, kind)."""

    def __init__(self, schemas: Mapping[tuple[str, str], Mapping], *, source: str) -> None:
        self._schemas: dict[tuple[str, str], Mapping] = dict(schemas)
        self._source = source
        self._validators: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_directory(cls, path: str | os.PathLike) -> CRDSchemas:
        """Load every CRD from the ``*.yaml`` / ``*.yml`` files below ``path``.

        Documents that are not CRDs are ignored.  When two files define the
        same (apiVersion, kind), the one that sorts last wins, as it would
        when applying the files in order.
        """
        return cls.from_directories([path])

    @classmethod
    def from_directories(cls, paths: Iterable[str | os.PathLike]) -> CRDSchemas:
        """Like `from_directory`, over several directories in order."""
        directories = [Path(p) for p in paths]
        for directory in directories:
            if not directory.is_dir():
                raise NotADirectoryError(f"CRD directory not found: {directory}")
        schemas: dict[tuple[str, str], Mapping] = {}
        files = [
            p
            for directory in directories
            for p in sorted(directory.rglob("*"))
            if p.suffix in (".yaml", ".yml") and p.is_file()
        ]
        for file in files:
            data = file.read_bytes()
            # Parsing YAML dominates load time; most non-CRD files are skipped
            # without it.
            if _CRD_MARKER not in data:
                continue
            try:
                documents = list(yaml.load_all(data, Loader=_YAML_LOADER))
            except yaml.YAMLError as exc:
                raise ValueError(f"{file}: not valid YAML: {exc}") from exc
            for document in documents:
                schemas.update(_served_schemas(document))
        return cls(schemas, source=", ".join(str(d) for d in directories))

    def kinds(self) -> frozenset[tuple[str, str]]:
        """The (apiVersion, kind) pairs that can be validated."""
        return frozenset(self._schemas)

    def validate(self, obj: Mapping) -> list[SchemaProblem]:
        """Problems with one object, sorted by (document, path, message)."""
        if not isinstance(obj, Mapping):
            return [
                SchemaProblem(
                    document="<not an object>",
                    path="",
                    message=f"expected object, got {_json_type_name(obj)}",
                )
            ]
        document = _document_name(obj)
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        missing = [
            SchemaProblem(
                document=document, path=field, message=f"required field '{field}' is missing"
            )
            for field, value in (("apiVersion", api_version), ("kind", kind))
            if not isinstance(value, str) or not value
        ]
        if missing:
            return missing
        validator = self._validator_for(api_version, kind)
        if validator is None:
            return [
                SchemaProblem(
                    document=document,
                    path="",
                    message=f"no CRD for {api_version} {kind} in {self._source}",
                )
            ]
        problems: set[SchemaProblem] = set()
        for path, message in _metadata_problems(obj):
            problems.add(SchemaProblem(document=document, path=path, message=message))
        if "status" in obj:
            problems.add(
                SchemaProblem(
                    document=document,
                    path="status",
                    message="status must not be set in a rendered manifest (controllers own it)",
                )
            )
        for error in validator.iter_errors(obj):
            for path, message in _describe_error(error):
                problems.add(SchemaProblem(document=document, path=path, message=message))
        return sorted(problems, key=_problem_sort_key)

    def validate_all(
        self,
        objs: Iterable[Mapping],
        *,
        allow_unknown_kinds: Iterable[str] = ("v1",),
    ) -> list[SchemaProblem]:
        """Problems with many objects, sorted by (document, path, message).

        Objects whose apiVersion is listed in ``allow_unknown_kinds`` and has
        no CRD here (built-in kinds such as ``v1`` Secret, or
        ``rbac.authorization.k8s.io/v1`` Role) are skipped rather than
        reported as unknown.
        """
        if isinstance(allow_unknown_kinds, str):
            # A bare "v1" would otherwise be read as the characters 'v', '1'.
            allow_unknown_kinds = (allow_unknown_kinds,)
        skippable_api_versions = frozenset(allow_unknown_kinds)
        problems: list[SchemaProblem] = []
        for obj in objs:
            if (
                isinstance(obj, Mapping)
                and isinstance(obj.get("apiVersion"), str)
                and obj.get("apiVersion") in skippable_api_versions
                and (obj.get("apiVersion"), obj.get("kind")) not in self._schemas
            ):
                continue
            problems.extend(self.validate(obj))
        problems.sort(key=_problem_sort_key)
        return problems

    def __repr__(self) -> str:
        return f"CRDSchemas(source={self._source!r}, kinds={len(self._schemas)})"

    def _validator_for(self, api_version: str, kind: str) -> Any | None:
        key = (api_version, kind)
        validator = self._validators.get(key)
        if validator is None:
            openapi_schema = self._schemas.get(key)
            if openapi_schema is None:
                return None
            validator = _validator_class()(_to_json_schema_root(openapi_schema))
            self._validators[key] = validator
        return validator


def _served_schemas(document: Any) -> Iterator[tuple[tuple[str, str], Mapping]]:
    if not isinstance(document, Mapping) or document.get("kind") != "CustomResourceDefinition":
        return
    if not str(document.get("apiVersion", "")).startswith("apiextensions.k8s.io/"):
        return
    spec = document.get("spec") or {}
    group = spec.get("group")
    kind = (spec.get("names") or {}).get("kind")
    if not group or not kind:
        return
    # apiextensions.k8s.io/v1beta1 CRDs may share one schema across versions.
    shared_schema = (spec.get("validation") or {}).get("openAPIV3Schema")
    versions = spec.get("versions") or []
    if not versions and spec.get("version"):
        versions = [{"name": spec["version"], "served": True}]
    for version in versions:
        if version.get("served") is not True:
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or shared_schema
        if schema is None:
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        yield (f"{group}/{version['name']}", kind), schema


_VALIDATOR_CLASS: Any = None


def _validator_class() -> Any:
    """Draft 7 validator that also treats any Mapping as an object."""
    global _VALIDATOR_CLASS
    if _VALIDATOR_CLASS is None:
        import jsonschema

        base = jsonschema.Draft7Validator
        type_checker = base.TYPE_CHECKER.redefine_many(
            {
                "object": lambda _checker, instance: isinstance(instance, Mapping),
                "array": lambda _checker, instance: isinstance(instance, (list, tuple)),
            }
        )
        _VALIDATOR_CLASS = jsonschema.validators.extend(base, type_checker=type_checker)
    return _VALIDATOR_CLASS


def _to_json_schema_root(openapi_schema: Mapping) -> dict:
    schema = _to_json_schema(openapi_schema, prune_unknown=True)
    properties = schema.setdefault("properties", {})
    # metadata and status are checked by hand (see _metadata_problems and
    # CRDSchemas.validate); accept anything here so they are not reported
    # twice.  A CRD may still constrain name/generateName, so keep those.
    crd_meta_properties = ((openapi_schema.get("properties") or {}).get("metadata") or {}).get(
        "properties"
    ) or {}
    properties["metadata"] = {
        "properties": {
            name: _to_json_schema(sub, prune_unknown=False)
            for name, sub in crd_meta_properties.items()
            if name in ("name", "generateName")
        }
    }
    properties["status"] = {}
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    return schema


def _to_json_schema(node: Mapping, *, prune_unknown: bool) -> dict:
    """Translate one OpenAPI v3 (structural) schema node into JSON Schema.

    ``prune_unknown`` is False inside allOf/anyOf/oneOf/not: Kubernetes takes
    the field list from the enclosing schema only, so a combinator branch
    must not forbid fields the enclosing schema declares.
    """
    schema: dict[str, Any] = {key: node[key] for key in _COPIED_KEYWORDS if key in node}

    # OpenAPI 3.0 spells exclusive bounds as booleans next to minimum/maximum.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(exclusive) is True and bound in schema:
            schema[exclusive] = schema.pop(bound)

    if node.get("x-kubernetes-int-or-string"):
        schema["type"] = ["integer", "string"]

    for keyword in _COMBINATOR_KEYWORDS:
        branches = node.get(keyword)
        if not branches:
            continue
        if (
            keyword == "anyOf"
            and node.get("x-kubernetes-int-or-string")
            and branches == _INT_OR_STRING_ANY_OF
        ):
            # Already expressed by the type list, which gives a clearer error.
            continue
        schema[keyword] = [_to_json_schema(branch, prune_unknown=False) for branch in branches]
    if isinstance(node.get("not"), Mapping):
        schema["not"] = _to_json_schema(node["not"], prune_unknown=False)

    if node.get("nullable") is True:
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            schema["type"] = [*types, "null"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]

    if isinstance(node.get("items"), Mapping):
        schema["items"] = _to_json_schema(node["items"], prune_unknown=True)

    properties = {
        name: _to_json_schema(sub, prune_unknown=True)
        for name, sub in (node.get("properties") or {}).items()
    }
    if node.get("x-kubernetes-embedded-resource"):
        # An embedded object always keeps its type meta and metadata.
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties.setdefault("metadata", {"type": "object"})
    if properties:
        schema["properties"] = properties

    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        schema["additionalProperties"] = _to_json_schema(additional, prune_unknown=True)
    elif (
        prune_unknown
        and additional is not True
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and (properties or node.get("type") == "object")
    ):
        # This is where pruning would drop fields: an object with no
        # properties at all (e.g. an empty spec struct) keeps none.
        schema["additionalProperties"] = False
    return schema


def _describe_error(error: Any) -> Iterator[tuple[str, str]]:
    """(path, message) pairs for one jsonschema ValidationError."""
    path = list(error.absolute_path)
    keyword = error.validator
    expected = error.validator_value
    instance = error.instance

    if keyword == "additionalProperties":
        declared = error.schema.get("properties") or {}
        for key in sorted((k for k in instance if k not in declared), key=str):
            yield _format_path([*path, key]), f"unknown field '{key}'"
        return
    if keyword == "required":
        for field in expected:
            if field not in instance:
                yield _format_path([*path, field]), f"required field '{field}' is missing"
        return

    where = _format_path(path)
    if keyword == "type":
        expected_types = expected if isinstance(expected, list) else [expected]
        message = f"expected {' or '.join(expected_types)}, got {_json_type_name(instance)}"
    elif keyword == "enum":
        message = f"{instance!r} is not one of {expected!r}"
    elif keyword == "pattern":
        message = f"{_short_repr(instance)} does not match pattern '{expected}'"
    elif keyword == "minLength":
        message = f"must be at least {_count(expected, 'character')} long, got {len(instance)}"
    elif keyword == "maxLength":
        message = f"must be at most {_count(expected, 'character')} long, got {len(instance)}"
    elif keyword == "minimum":
        message = f"{instance!r} is less than the minimum {expected!r}"
    elif keyword == "maximum":
        message = f"{instance!r} is greater than the maximum {expected!r}"
    elif keyword == "exclusiveMinimum":
        message = f"{instance!r} must be greater than {expected!r}"
    elif keyword == "exclusiveMaximum":
        message = f"{instance!r} must be less than {expected!r}"
    elif keyword == "minItems":
        message = f"must have at least {_count(expected, 'item')}, got {len(instance)}"
    elif keyword == "maxItems":
        message = f"must have at most {_count(expected, 'item')}, got {len(instance)}"
    elif keyword == "minProperties":
        message = f"must have at least {_count(expected, 'field')}, got {len(instance)}"
    elif keyword == "maxProperties":
        message = f"must have at most {_count(expected, 'field')}, got {len(instance)}"
    else:
        message = error.message
    yield where, message


def _metadata_problems(obj: Mapping) -> Iterator[tuple[str, str]]:
    """What the API server's ObjectMeta validation would reject."""
    if "metadata" not in obj:
        yield "metadata", "required field 'metadata' is missing"
        return
    metadata = obj["metadata"]
    if not isinstance(metadata, Mapping):
        yield "metadata", f"expected object, got {_json_type_name(metadata)}"
        return

    for key in sorted((k for k in metadata if k not in _OBJECT_META_FIELDS), key=str):
        yield _format_path(["metadata", key]), f"unknown field '{key}'"

    name = metadata.get("name")
    if name is None:
        yield "metadata.name", "required field 'name' is missing"
    elif not isinstance(name, str):
        yield "metadata.name", f"expected string, got {_json_type_name(name)}"
    elif len(name) > 253:
        yield "metadata.name", f"must be at most 253 characters long, got {len(name)}"
    elif not _DNS1123_SUBDOMAIN.fullmatch(name):
        yield "metadata.name", (
            f"{name!r} is not a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.';"
            " must start and end with a letter or digit)"
        )

    namespace = metadata.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str):
            yield "metadata.namespace", f"expected string, got {_json_type_name(namespace)}"
        elif len(namespace) > 63 or not _DNS1123_LABEL.fullmatch(namespace):
            yield "metadata.namespace", (
                f"{namespace!r} is not a valid DNS-1123 label (at most 63 lowercase letters,"
                " digits and '-'; must start and end with a letter or digit)"
            )

    for field in ("labels", "annotations"):
        entries = metadata.get(field)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            yield f"metadata.{field}", f"expected object, got {_json_type_name(entries)}"
            continue
        yield from _string_map_problems(field, entries)


def _string_map_problems(field: str, entries: Mapping) -> Iterator[tuple[str, str]]:
    total_bytes = 0
    for key, value in entries.items():
        where = _format_path(["metadata", field, key])
        if not isinstance(key, str):
            yield where, f"key must be a string, got {_json_type_name(key)}"
            continue
        key_problem = _qualified_name_problem(key)
        if key_problem:
            yield where, key_problem
        if not isinstance(value, str):
            yield where, f"expected string, got {_json_type_name(value)}"
            continue
        total_bytes += len(key.encode()) + len(value.encode())
        if field == "labels" and (len(value) > 63 or not _LABEL_VALUE.fullmatch(value)):
            yield where, (
                f"{_short_repr(value)} is not a valid label value (at most 63 letters, digits,"
                " '-', '_' and '.'; must start and end with a letter or digit)"
            )
    if field == "annotations" and total_bytes > _MAX_ANNOTATIONS_BYTES:
        yield "metadata.annotations", (
            f"annotations total {total_bytes} bytes,"
            f" more than the limit of {_MAX_ANNOTATIONS_BYTES}"
        )


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return f"key prefix {prefix!r} is not a valid DNS-1123 subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME_PART.fullmatch(name):
        return (
            f"key {key!r} is not a valid qualified name (optional DNS prefix and '/', then"
            " at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter"
            " or digit)"
        )
    return None


def _document_name(obj: Mapping) -> str:
    kind = obj.get("kind")
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    kind_text = kind if isinstance(kind, str) and kind else "<no kind>"
    name_text = name if isinstance(name, str) and name else "<no name>"
    return f"{kind_text}/{name_text}"


def _format_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_PATH_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            # Keys such as "app.kubernetes.io/name" would be ambiguous dotted.
            text += f"[{str(part)!r}]"
    return text


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
