"""Talking to Kubernetes: the only module that imports the ``kubernetes`` client.

Everything is applied with server-side apply under one field manager
(``dokaseca``), with conflicts forced: the fleet file is the source of truth
for the fields we set, and nothing else (controllers, users) is touched.
Re-applying unchanged objects changes nothing. Transient failures (409, 429
with Retry-After, 5xx, dropped connections) are retried by urllib3's Retry,
which the client already uses, instead of a loop of our own.

``kubernetes`` is imported inside the functions here, so ``render`` and
``validate`` never load it; it comes with ``pip install dokaseca[kube]``.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import attrs

from dokaseca.errors import DokasecaError

FIELD_MANAGER = "dokaseca"
READY_CONDITIONS = ("InfrastructureReady", "ControlPlaneAvailable")


class KubeError(DokasecaError):
    """The cluster said no, or could not be reached; the message says which and why."""


@attrs.frozen(kw_only=True)
class ClusterStatus:
    name: str
    namespace: str
    phase: str
    control_plane_ready: bool
    version: str
    workers_ready: int
    workers_desired: int
    conditions: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _kubernetes() -> Any:
    try:
        import kubernetes
    except ImportError:  # pragma: no cover - depends on the installation
        raise KubeError("the kubernetes client is not installed; run `pip install dokaseca[kube]`") from None
    return kubernetes


def _retry() -> Any:
    from urllib3.util.retry import Retry

    # Every verb is retried: server-side apply is idempotent by design.
    return Retry(
        total=6,
        connect=4,
        read=4,
        status=6,
        backoff_factor=0.2,
        backoff_max=10,
        status_forcelist=(409, 429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class ManagementCluster:
    """The management cluster, connected on first use.

    ``prepare`` hands one to every provider; only providers whose
    infrastructure lives in Kubernetes (Metal3) touch ``kube``, so preparing an
    AWS fleet needs no kubeconfig at all.
    """

    def __init__(self, kubeconfig: Optional[str] = None, context: Optional[str] = None, *, kube: Optional["Kube"] = None) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self._kube = kube
        self._lock = threading.Lock()

    @property
    def kube(self) -> "Kube":
        with self._lock:
            if self._kube is None:
                self._kube = Kube(self.kubeconfig, self.context)
            return self._kube


class Kube:
    """A connection to one cluster, from a kubeconfig file and context."""

    def __init__(self, kubeconfig: Optional[str] = None, context: Optional[str] = None) -> None:
        kubernetes = _kubernetes()
        from kubernetes.dynamic import DynamicClient

        configuration = kubernetes.client.Configuration()
        path = os.path.expanduser(kubeconfig) if kubeconfig else None
        try:
            kubernetes.config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        except (kubernetes.config.ConfigException, OSError) as exc:
            where = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise KubeError(
                f"cannot load kubeconfig {where}{f' (context {context!r})' if context else ''}: {_first_line(exc)}; "
                "set management.kubeconfig/context in the fleet file, --kubeconfig/--context, or KUBECONFIG"
            ) from None
        configuration.retries = _retry()
        # The client logs whole response bodies at DEBUG, Secrets' data included;
        # a user's debug logging must not put credentials in a log file.
        logging.getLogger("kubernetes.client.rest").setLevel(logging.INFO)
        self.api_client = kubernetes.client.ApiClient(configuration)
        self.dynamic = DynamicClient(self.api_client)
        self._resources: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def server(self) -> str:
        """The API server URL from the kubeconfig (no credentials)."""
        return str(self.api_client.configuration.host)

    # -- discovery, once per kind ----------------------------------------------

    def resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        with self._lock:  # discovery state is shared between threads
            if key not in self._resources:
                from kubernetes.dynamic.exceptions import ResourceNotFoundError

                try:
                    self._resources[key] = self.dynamic.resources.get(api_version=api_version, kind=kind)
                except ResourceNotFoundError:
                    raise KubeError(
                        f"the cluster does not serve {kind} ({api_version}); is the provider installed "
                        "(`clusterctl init --infrastructure ...`)?"
                    ) from None
            return self._resources[key]

    def invalidate_discovery(self) -> None:
        """Forget discovered kinds, after CRDs were installed."""
        with self._lock:
            self._resources.clear()
            self.dynamic.resources.invalidate_cache()

    # -- writing -----------------------------------------------------------------

    def apply(self, objects: Iterable[Mapping[str, Any]], *, on_object: Optional[Callable[[Mapping[str, Any]], None]] = None) -> int:
        """Server-side apply each object, in the order given (callers sort by dependency).

        One request per object; returns how many were applied.
        """
        from kubernetes.client.exceptions import ApiException

        applied = 0
        for obj in objects:
            meta = obj["metadata"]
            resource = self.resource(obj["apiVersion"], obj["kind"])
            try:
                resource.server_side_apply(
                    body=dict(obj),
                    name=meta["name"],
                    namespace=meta.get("namespace") if resource.namespaced else None,
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                )
            except ApiException as exc:
                raise KubeError(f"applying {_describe(obj)} failed: {_api_message(exc)}") from None
            applied += 1
            if on_object is not None:
                on_object(obj)
        return applied

    # -- reading -----------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> Optional[dict[str, Any]]:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.resource(api_version, kind).get(name=name, namespace=namespace).to_dict()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise KubeError(f"reading {kind} {namespace}/{name} failed: {_api_message(exc)}") from None

    def list(
        self, api_version: str, kind: str, *, namespace: Optional[str] = None, label_selector: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """Every ``kind`` object in ``namespace`` (all namespaces when None), in one request."""
        from kubernetes.client.exceptions import ApiException

        try:
            listing = self.resource(api_version, kind).get(namespace=namespace, label_selector=label_selector).to_dict()
        except ApiException as exc:
            where = f" in namespace {namespace}" if namespace else ""
            raise KubeError(f"listing {kind}{where} failed: {_api_message(exc)}") from None
        return list(listing.get("items") or [])

    def wait_for(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: Optional[str],
        predicate: Callable[[Mapping[str, Any]], bool],
        *,
        timeout: float,
        describe: Callable[[Optional[Mapping[str, Any]]], str],
        on_change: Optional[Callable[[Mapping[str, Any]], None]] = None,
    ) -> dict[str, Any]:
        """Watch one object until ``predicate`` holds for it; return it.

        A watch, not polling: one request that the server answers as the
        object changes. On timeout the error says what is still missing:
        ``describe(last seen object)``, or ``describe(None)`` when it never
        appeared.
        """
        from kubernetes import watch

        resource = self.resource(api_version, kind)
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        # The server ends a watch after timeoutSeconds; a new one resumes until the deadline.
        while (remaining := deadline - time.monotonic()) > 0:
            watcher = watch.Watch()
            for event in self.dynamic.watch(
                resource,
                namespace=namespace if resource.namespaced else None,
                field_selector=f"metadata.name={name}",
                timeout=max(1, int(remaining)),
                watcher=watcher,
            ):
                if event.get("type") == "DELETED":
                    last = {}
                    continue
                last = event["raw_object"]
                if on_change is not None:
                    on_change(last)
                if predicate(last):
                    watcher.stop()
                    return last
                if time.monotonic() >= deadline:
                    watcher.stop()
                    break
        where = f"{namespace}/{name}" if namespace and resource.namespaced else name
        raise KubeError(f"timed out after {timeout:.0f}s waiting for {kind} {where}: {describe(last or None)}")

    def wait_for_cluster(
        self,
        name: str,
        namespace: str,
        *,
        timeout: float,
        on_change: Optional[Callable[[Mapping[str, str]], None]] = None,
    ) -> dict[str, Any]:
        """Watch a CAPI Cluster until its infrastructure and control plane are ready.

        On timeout the error names the conditions still not True, with their
        reason and message.
        """

        def ready(obj: Mapping[str, Any]) -> bool:
            return all(_conditions(obj).get(c) == "True" for c in READY_CONDITIONS)

        def describe(obj: Optional[Mapping[str, Any]]) -> str:
            if obj is None:
                return "it does not exist on the management cluster"
            return "; ".join(
                f"{c} is {_condition(obj, c).get('status', 'missing')}"
                + (f" ({_condition(obj, c).get('reason')}: {_condition(obj, c).get('message')})" if _condition(obj, c).get("reason") else "")
                for c in READY_CONDITIONS
                if _conditions(obj).get(c) != "True"
            )

        return self.wait_for(
            "cluster.x-k8s.io/v1beta2",
            "Cluster",
            name,
            namespace,
            ready,
            timeout=timeout,
            describe=describe,
            on_change=None if on_change is None else (lambda obj: on_change(_conditions(obj))),
        )

    def save_workload_kubeconfig(self, name: str, namespace: str, directory: Path) -> Path:
        """Write the ``<cluster>-kubeconfig`` Secret CAPI made to a 0600 file."""
        secret = self.get("v1", "Secret", f"{name}-kubeconfig", namespace)
        if secret is None or not (secret.get("data") or {}).get("value"):
            raise KubeError(f"Secret {namespace}/{name}-kubeconfig is missing: the control plane has not been initialised yet")
        content = base64.b64decode(secret["data"]["value"])
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / f"{name}.kubeconfig"
        # Created 0600 from the start: the file never exists readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(path, 0o600)
        return path

    def cluster_statuses(self, fleet: str) -> list[ClusterStatus]:
        """Every Cluster of the fleet, in one list request (selected by the fleet label)."""
        from kubernetes.client.exceptions import ApiException

        resource = self.resource("cluster.x-k8s.io/v1beta2", "Cluster")
        try:
            listing = resource.get(label_selector=f"dokaseca.io/fleet={fleet}").to_dict()
        except ApiException as exc:
            raise KubeError(f"listing Clusters failed: {_api_message(exc)}") from None
        return [_status(item) for item in listing.get("items", [])]


def _status(obj: Mapping[str, Any]) -> ClusterStatus:
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    workers = status.get("workers") or {}
    conditions = _conditions(obj)
    version = (spec.get("topology") or {}).get("version") or _versions(status.get("controlPlane") or {})
    return ClusterStatus(
        name=obj["metadata"]["name"],
        namespace=obj["metadata"].get("namespace", ""),
        phase=status.get("phase", "Pending"),
        control_plane_ready=conditions.get("ControlPlaneAvailable") == "True",
        version=version or "",
        workers_ready=int(workers.get("readyReplicas") or 0),
        workers_desired=int(workers.get("desiredReplicas") or 0),
        conditions=conditions,
    )


def _versions(group: Mapping[str, Any]) -> str:
    versions = group.get("versions") or []
    return ",".join(sorted({v.get("version", "") for v in versions if v.get("version")}))


def _conditions(obj: Mapping[str, Any]) -> dict[str, str]:
    return {c.get("type"): c.get("status") for c in ((obj.get("status") or {}).get("conditions") or [])}


def _condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return {}


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{meta.get('name')}"


def _api_message(exc: Any) -> str:
    import json

    try:
        body = json.loads(exc.body)
        return f"{exc.status} {body.get('reason', '')}: {body.get('message', '')}".strip()
    except (TypeError, ValueError):
        return f"{exc.status} {exc.reason}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
