"""What every GitOps engine plugin needs from the core: the cluster's merged
GitOps Bridge metadata, and installing an engine from its release install
manifest (a pinned URL downloaded once and cached, or a local file)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from dokaseca.errors import DokasecaError
from dokaseca.models import ClusterSpec, GitOpsMetadata, GitOpsSpec, InfraResult
from dokaseca.plugins import PluginHost


def cluster_metadata(host: PluginHost, cluster: ClusterSpec, infra: Optional[InfraResult] = None) -> GitOpsMetadata:
    """Merge every plugin's ``gitops_metadata``; installed plugins answer
    before the core's defaults, and the first to set a key wins."""
    provider = host.provider(cluster.provider)
    merged = GitOpsMetadata()
    for contribution in host.hook.gitops_metadata(cluster=cluster, provider=provider, infra=infra or InfraResult()):
        merged = merged.merged_under(contribution)
    return merged


# -------------------------------------------------------------------------
# Installing an engine from its release install manifest
# -------------------------------------------------------------------------

DOWNLOAD_TIMEOUT = 60.0


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dokaseca`` or ``~/.cache/dokaseca``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "dokaseca"


def manifest_location(gitops: Optional[GitOpsSpec], url_template: str, default_version: str) -> str:
    """``installManifest`` when set, else the engine's pinned URL at ``version`` (or its default)."""
    if gitops is not None and gitops.install_manifest:
        return gitops.install_manifest
    version = (gitops.version if gitops is not None else None) or default_version
    return url_template.format(version=version)


def read_install_manifest(location: str) -> str:
    """The text of an install manifest: a local path, or a URL downloaded once and
    then served from the cache (keyed by the URL; written atomically)."""
    if "://" not in location or location.startswith("file://"):
        path = Path(location.removeprefix("file://")).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DokasecaError(f"cannot read install manifest {path}: {exc.strerror or exc}") from None
    cached = cache_dir() / "manifests" / (hashlib.sha256(location.encode()).hexdigest() + ".yaml")
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    import urllib.error
    import urllib.request

    if not location.startswith(("http://", "https://")):
        raise DokasecaError(f"install manifest {location}: only http(s) URLs or local paths are supported")
    try:
        with urllib.request.urlopen(location, timeout=DOWNLOAD_TIMEOUT) as response:  # http(s) checked above
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        raise DokasecaError(f"cannot download install manifest {location}: {getattr(exc, 'reason', exc)}") from None
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".download-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, cached)  # atomic: a reader sees the old file or the whole new one
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return text


def manifest_objects(text: str, where: str = "install manifest") -> list[dict[str, Any]]:
    """The objects of a multi-document YAML (``List`` kinds flattened, empty documents skipped)."""
    import yaml

    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise DokasecaError(f"{where} is not valid YAML: {exc}") from None
    objects: list[dict[str, Any]] = []
    for document in documents:
        if not document:
            continue
        if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
            raise DokasecaError(f"{where} holds a document that is not a Kubernetes object")
        if document["kind"].endswith("List") and isinstance(document.get("items"), list):
            objects += [item for item in document["items"] if item]
        else:
            objects.append(document)
    return objects


def install(
    kube: Any, objects: Sequence[Mapping[str, Any]], default_namespace: str, then: Sequence[Mapping[str, Any]] = ()
) -> int:
    """Server-side apply an engine's install objects, then ``then`` (the bootstrap objects), in dependency order.

    CustomResourceDefinitions and Namespaces go first; discovery is then
    refreshed so the kinds the CRDs define can be applied. Namespaced objects
    without a namespace go to ``default_namespace`` (as ``kubectl apply -n``).
    An object in both lists is applied once, as ``then`` has it: applying two
    versions under one field manager would flip it on every run.
    """
    from dokaseca.render import apply_rank

    def identity(obj: Mapping[str, Any]) -> tuple[str, str, str]:
        meta = obj.get("metadata") or {}
        return (obj["kind"], str(meta.get("namespace") or ""), meta["name"])

    replaced = {identity(o) for o in then}
    everything = [o for o in objects if identity(o) not in replaced] + list(then)
    first = [o for o in everything if o["kind"] in ("CustomResourceDefinition", "Namespace")]
    rest = [o for o in everything if o["kind"] not in ("CustomResourceDefinition", "Namespace")]
    first.sort(key=lambda o: o["kind"] != "Namespace")
    applied = kube.apply(first)
    if any(o["kind"] == "CustomResourceDefinition" for o in first):
        kube.invalidate_discovery()
    placed = []
    for obj in sorted(rest, key=apply_rank):
        meta = obj.get("metadata") or {}
        if not meta.get("namespace") and kube.resource(obj["apiVersion"], obj["kind"]).namespaced:
            obj = {**obj, "metadata": {**meta, "namespace": default_namespace}}
        placed.append(obj)
    return applied + kube.apply(placed)
