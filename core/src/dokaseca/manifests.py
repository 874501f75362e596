"""Small pure helpers for building Kubernetes objects as plain dicts, and
dumping them as YAML. Providers use these too (``from dokaseca import k8s_object``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping, Optional

import yaml


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    # Objects share sub-dicts (one nodeRegistration for init and join);
    # anchors and aliases would make the output hard to read and to diff.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Files in KubeadmConfigSpec (static pods, configs) stay readable and diffable.
    style = "|" if "\n" in data and not any(c in data for c in "\t\r") and data == data.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


CAPI_VERSION = "cluster.x-k8s.io/v1beta2"
KUBEADM_BOOTSTRAP_VERSION = "bootstrap.cluster.x-k8s.io/v1beta2"
KUBEADM_CONTROL_PLANE_VERSION = "controlplane.cluster.x-k8s.io/v1beta2"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"


def k8s_object(
    api_version: str,
    kind: str,
    name: str,
    namespace: Optional[str] = None,
    *,
    labels: Optional[Mapping[str, str]] = None,
    annotations: Optional[Mapping[str, str]] = None,
    spec: Optional[Mapping[str, Any]] = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Kubernetes object with the identity fields in the usual order."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        obj["spec"] = dict(spec)
    obj.update(fields)
    return obj


def api_group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def contract_ref(obj: Mapping[str, Any]) -> dict[str, str]:
    """A CAPI v1beta2 reference (``apiGroup``, ``kind``, ``name``) to ``obj``."""
    return {"apiGroup": api_group(obj["apiVersion"]), "kind": obj["kind"], "name": obj["metadata"]["name"]}


def template_ref(obj: Mapping[str, Any]) -> dict[str, str]:
    """A ClusterClass template reference (``apiVersion``, ``kind``, ``name``)."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"]}


def args_list(args: Mapping[str, str]) -> list[dict[str, str]]:
    """kubeadm v1beta2 extra args: a list of name/value pairs, sorted for stable output."""
    return [{"name": k, "value": str(v)} for k, v in sorted(args.items())]


def template_object(api_version: str, kind: str, name: str, namespace: str | None, spec: Mapping[str, Any]) -> dict[str, Any]:
    """An immutable template: ``k8s_object`` named ``versioned_name(name, spec)``."""
    return k8s_object(api_version, kind, versioned_name(name, spec), namespace, spec=spec)


def versioned_name(name: str, spec: Mapping[str, Any]) -> str:
    """``name`` plus a digest of ``spec``: the name of an immutable template.

    Machine and bootstrap templates cannot be changed once created (the
    providers' webhooks refuse it), and CAPI rolls machines out when a
    reference moves to a new template. Naming a template after its content
    makes a changed template a new object that the references follow, and an
    unchanged one the same object, so re-applying is a no-op.
    """
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{name}-{digest[:8]}"


def dump_all(objects: Iterable[Mapping[str, Any]]) -> str:
    """Multi-document YAML, keys in insertion order, identical across runs."""
    return yaml.dump_all(
        list(objects), Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True, width=120
    )
