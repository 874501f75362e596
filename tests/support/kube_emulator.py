"""A Kubernetes API server emulator for the test suite, built on kmock.

The tests drive our code with the real ``kubernetes`` Python client over HTTP,
but no kube-apiserver can run here. :class:`KubeEmulator` starts an in-process
API server on ``127.0.0.1`` (free port, background thread with its own asyncio
loop), writes a kubeconfig for it and exposes helpers for assertions and fault
injection. The pytest fixture ``kube_emulator`` wraps it (function scope, the
start takes a few tens of milliseconds: the CRD files are parsed once per process).

Quick use::

    def test_something(kube_emulator):
        api = kubernetes.config.new_client_from_config(
            config_file=str(kube_emulator.kubeconfig_path), context=kube_emulator.context)
        dyn = kubernetes.dynamic.DynamicClient(api)
        ...
        assert kube_emulator.objects.get('v1', 'ConfigMap', 'cm', 'ns')['data'] == {...}
        assert kube_emulator.requests.count('PATCH', '/configmaps/') == 1

What the emulator does
----------------------
* Discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>``,
  ``/apis/<g>/<v>`` (legacy, non-aggregated JSON: ``kubernetes`` v36
  ``DynamicClient`` asks for ``application/json`` only). Built-in kinds come from
  kmock's bundled discovery snapshot of a K3s cluster (core, apps, rbac,
  apiextensions, networking, admissionregistration, batch, ... minus the
  Gateway API CRDs and the aggregated metrics API). Custom kinds are derived
  from the CustomResourceDefinition *objects* in the store: the CRDs found in
  the directories given at start are pre-installed as objects, and a CRD created,
  updated or deleted through the API changes discovery at once. Only served
  versions are discovered; the preferred version of a group is the highest by
  the Kubernetes version priority (v1 > v1beta2 > v1beta1 > v1alpha1).
* Objects, namespaced and cluster-scoped: create, get, list, watch, replace
  (PUT, resourceVersion precondition), merge patch, JSON patch, strategic merge
  patch (built-in kinds only, applied as a merge patch; custom resources get 415
  as from a real server), server-side apply, delete (preconditions, finalizers),
  deletecollection, the ``status`` subresource, ``dryRun``. Errors are ``Status``
  objects with the reasons and messages of a real API server (NotFound,
  AlreadyExists, Conflict, Invalid, BadRequest, MethodNotAllowed, ...).
* Metadata: ``uid``, ``resourceVersion`` (one global counter),
  ``creationTimestamp``, ``generation`` (bumped when anything outside metadata
  and status changes; note: a real server only tracks it for some kinds),
  ``managedFields`` (FieldsV1, per manager/operation/subresource), name and
  label validation, ``generateName``. A write that changes nothing does not
  bump ``resourceVersion`` or ``generation`` and emits no event.
* Server-side apply: ``fieldManager`` required (422), ``force``; creates when
  absent (201); maps merge recursively, lists and scalars are atomic; a field
  owned by another manager (Apply or Update) with a different value is a 409
  Conflict naming the field and the manager, unless ``force=true`` (ownership
  moves); equal values are co-owned; fields the manager applied before and omits
  now are removed unless another manager owns them.
* Watch: ``?watch=true`` (any Go ``ParseBool`` truthy value, the Python client
  sends ``True``), ``resourceVersion`` (events after it; none/``0`` = current
  objects as ADDED first; older than the last ``reset()`` = ERROR 410),
  ``labelSelector``/``fieldSelector`` (with ADDED/DELETED for objects entering or
  leaving the selection), ``timeoutSeconds`` (capped by ``max_watch_seconds``).
* Built-in behaviour that our code can observe: Namespaces get phase Active, the
  ``kubernetes.io/metadata.name`` label and the ``kubernetes`` finalizer;
  deleting a Namespace deletes its contents (Terminating until objects with
  finalizers are released); creating in a missing namespace is 404, in a
  terminating one 403; Secrets turn ``stringData`` into base64 ``data`` and
  default ``type: Opaque``; CRDs get ``acceptedNames``, ``storedVersions`` and
  Established/NamesAccepted conditions, their name is validated, deleting a CRD
  deletes its custom resources. ``default``, ``kube-system``, ``kube-public`` and
  ``kube-node-lease`` exist from the start.
* Bearer-token authentication with the token from the kubeconfig (401
  otherwise; ``/version`` and health endpoints are public, as on a real server).
* Test helpers: ``.objects`` (get/list/history/create/delete), ``.requests``
  (log + ``count()``), ``.set_status()``, ``.when_exists()`` (a controller's
  reaction), ``.fail_next()``/``.drop_next()``,
  ``.reset()``, ``.api_client()``/``.dynamic_client()``, ``.handler`` (the kmock
  handler: its reaction DSL still works and takes precedence, e.g.
  ``emulator.handler['get /version'] << {...}``; register reactions before the
  requests they should catch).

What is kmock's and what is ours
--------------------------------
Reused from kmock 0.8 (``KubeApiHandler`` subclasses ``kmock.KubernetesEmulator``):

* ``RawHandler``/``Root``: the request history and the reaction DSL.
* ``KubernetesEmulator.objects``: the object store (kmock ``ObjectsArray``
  keyed by ``kmock.resource(group, storage_version, plural)``, namespace, name;
  every write appends to the object's history, deletion is a soft delete), so
  ``emulator.handler.objects[...]`` assertions work as documented by kmock.
* ``KubernetesScaffold.resources``: the catalogue of built-in kinds (kmock
  ``ResourcesArray``, filled from kmock's bundled snapshot; add kinds there).

Overridden in the subclass, because kmock's behaviour blocks us:

* ``__call__`` (request parsing): kmock's ``parse_path`` reads
  ``/api/v1/namespaces/<name>`` as a namespace prefix (Namespaces cannot be
  fetched) and raises on ``POST /api/v1/namespaces``; it recognises
  ``watch=true`` only (the Python client sends ``watch=True``); it cannot decode
  YAML apply patches. The request log, fault injection and authentication also
  have to run here, before anything else.
* ``_handle``: kmock mutates objects before dispatching, with a blind recursive
  dict merge (no resourceVersion, conflicts, selectors, SSA, namespaces checks),
  and its list/watch ignore selectors; user reactions are still tried first,
  then our router. ``__attrs_post_init__`` does not register kmock's fallback
  reactions, since the router replaces all of them.

Replaced by our own aiohttp code:

* ``kmock.Server``: on enter it replaces ``aiohttp.connector.TCPConnector._resolve_host``
  process-wide and requires strictly LIFO exits, which breaks with two
  emulators in one test (management + workload cluster) or any other aiohttp
  client in the process; it also opens a client session we do not need. We run
  ``aiohttp.web.Server`` on a pre-bound loopback socket instead.

NOTE: kmock 0.8 registers a pytest plugin (entry point ``pytest11``) that imports
``pytest_asyncio``, which kmock does not declare as a dependency. Without
pytest-asyncio, pytest aborts at start-up ("Error while loading plugin"). We do
not use kmock's fixture: run pytest with ``-p no:kmock`` (best in ``addopts``).

Known gaps versus a real API server
-----------------------------------
* No schema: no OpenAPI validation, defaulting or pruning of unknown fields
  (a real server drops unknown CR fields or rejects them with
  ``fieldValidation=Strict``), no defaults for built-in kinds (Service
  clusterIP, Deployment strategy, ...), no ``/openapi/v2``/``/openapi/v3``, no
  aggregated discovery (clients fall back to the legacy form), no table output.
* No conversion: an object is served at any served version by rewriting
  ``apiVersion`` only. A CRD whose storage version changes does not migrate
  the stored objects.
* SSA is simplified: lists are atomic (no ``listType=map``/``set`` merge keys,
  so two managers contributing items to one list conflict), the strategic
  merge patch has no merge keys or ``$patch`` directives, managedFields sent by
  clients are ignored.
* No controllers: no garbage collection through ``ownerReferences``, no
  Deployment/ReplicaSet/Pod behaviour, no ServiceAccount tokens, namespace
  deletion is synchronous, deleting a CRD removes its objects at once (even with
  finalizers), no admission webhooks, no RBAC (the token is all-powerful).
* Not emulated: ``scale`` and other subresources except ``status`` (405),
  ``allowWatchBookmarks``/``sendInitialEvents`` (no BOOKMARK events), list
  ``resourceVersion`` semantics (lists are always current), field selectors
  beyond ``metadata.name``/``metadata.namespace``, the few built-in ones and CRD
  ``selectableFields``, protobuf/CBOR, HTTP/2, TLS, ``/api/v1/watch/...`` paths.
* DELETE always answers with the object (some real kinds answer a Status).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
import gzip
import hashlib
import importlib.resources
import json
import os
import pathlib
import random
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import pytest
import yaml

__all__ = [
    'ApiError',
    'Catalogue',
    'FaultRule',
    'KubeApiHandler',
    'KubeEmulator',
    'ObjectsView',
    'RequestLog',
    'RequestRecord',
    'ResourceType',
    'kube_emulator',
    'kube_emulator_fixture',
    'load_crds',
]

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTEXT_NAME = 'emulator'
DEFAULT_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')
SERVER_MANAGER = 'kube-emulator'
VERSION_INFO = {
    'major': '1',
    'minor': '33',
    'gitVersion': 'v1.33.0+kube-emulator',
    'gitCommit': '0000000000000000000000000000000000000000',
    'gitTreeState': 'clean',
    'buildDate': '2025-04-23T00:00:00Z',
    'goVersion': 'go1.24.2',
    'compiler': 'gc',
    'platform': 'linux/amd64',
}

_YAML_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
_MISSING: Any = type('_Missing', (), {'__repr__': lambda self: '<missing>'})()
_GEN_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'  # as in k8s.io/apimachinery/pkg/util/rand
_NS_GR = ('', 'namespaces')
_CRD_GR = ('apiextensions.k8s.io', 'customresourcedefinitions')
_SECRET_GR = ('', 'secrets')
_STRING_MAPS = {('', 'configmaps'): ('data', 'binaryData'), _SECRET_GR: ('data', 'stringData')}  # typed: map[string]string


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _copy(value: Any) -> Any:
    """A deep copy of JSON-like data (faster than copy.deepcopy for big CRDs)."""
    return json.loads(json.dumps(value))


def _jsonable(value: Any) -> Any:
    """Normalise YAML-loaded data to what a JSON round trip gives (dates become strings)."""
    return json.loads(json.dumps(value, default=str))


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ('1', 't', 'true')


# ---------------------------------------------------------------------------------------------
# Errors (Status objects)
# ---------------------------------------------------------------------------------------------

_REASONS = {
    400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound',
    405: 'MethodNotAllowed', 406: 'NotAcceptable', 409: 'Conflict', 410: 'Expired',
    415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests',
    500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
}


class ApiError(Exception):
    """An error answered as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str,
                 details: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
            'message': self.message, 'reason': self.reason, 'code': self.code,
        }
        if self.details:
            body['details'] = self.details
        return body


def _details(rt: ResourceType, name: str, kind: str | None = None, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {'name': name}
    if rt.group:
        details['group'] = rt.group
    details['kind'] = kind or rt.plural
    details.update(extra)
    return details


def _path_not_found() -> ApiError:
    return ApiError(404, 'NotFound', 'the server could not find the requested resource')


def _not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, 'NotFound', f'{rt.group_resource} "{name}" not found', _details(rt, name))


def _already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, 'AlreadyExists', f'{rt.group_resource} "{name}" already exists', _details(rt, name))


def _conflict(rt: ResourceType, name: str,
              why: str = 'the object has been modified; please apply your changes to the latest version and try again',
              ) -> ApiError:
    return ApiError(409, 'Conflict', f'Operation cannot be fulfilled on {rt.group_resource} "{name}": {why}',
                    _details(rt, name))


def _invalid(rt: ResourceType, name: str, causes: Sequence[tuple[str, str]]) -> ApiError:
    message = f'{rt.kind} "{name}" is invalid: ' + ', '.join(f'{field}: {msg}' for field, msg in causes)
    return ApiError(422, 'Invalid', message, _details(rt, name, kind=rt.kind, causes=[
        {'reason': 'FieldValueInvalid', 'message': msg, 'field': field} for field, msg in causes
    ]))


def _bad_request(message: str) -> ApiError:
    return ApiError(400, 'BadRequest', message)


def _method_not_allowed(message: str = 'the server does not allow this method on the requested resource') -> ApiError:
    return ApiError(405, 'MethodNotAllowed', message)


# ---------------------------------------------------------------------------------------------
# Resource types & discovery catalogue
# ---------------------------------------------------------------------------------------------

VERBS_ALL = ('create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch')
_SUBRESOURCE_VERBS = {
    'status': ('get', 'patch', 'update'), 'scale': ('get', 'patch', 'update'),
    'ephemeralcontainers': ('get', 'patch', 'update'), 'resize': ('get', 'patch', 'update'),
    'approval': ('get', 'patch', 'update'), 'finalize': ('update',), 'log': ('get',),
    'exec': ('create', 'get'), 'attach': ('create', 'get'), 'portforward': ('create', 'get'),
    'proxy': ('create', 'delete', 'get', 'patch', 'update'), 'eviction': ('create',),
    'binding': ('create',), 'token': ('create',),
}
_SUBRESOURCE_KINDS = {
    'scale': ('autoscaling', 'v1', 'Scale'), 'eviction': ('policy', 'v1', 'Eviction'),
    'binding': ('', 'v1', 'Binding'), 'token': ('authentication.k8s.io', 'v1', 'TokenRequest'),
}
# Field selectors a real server supports beyond metadata.name/metadata.namespace (a subset).
_BUILTIN_FIELD_SELECTORS: dict[tuple[str, str], tuple[str, ...]] = {
    ('', 'pods'): ('spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName',
                   'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'),
    ('', 'secrets'): ('type',),
    ('', 'namespaces'): ('status.phase',),
    ('', 'nodes'): ('spec.unschedulable',),
    ('', 'events'): ('involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name',
                     'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion',
                     'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'),
    ('', 'replicationcontrollers'): ('status.replicas',),
    ('apps', 'replicasets'): ('status.replicas',),
    ('batch', 'jobs'): ('status.successful',),
    ('certificates.k8s.io', 'certificatesigningrequests'): ('spec.signerName',),
}
# Not built-in on a real cluster: the Gateway API are CRDs, metrics.k8s.io is an aggregated API.
_EXCLUDED_BUILTIN_GROUPS = frozenset({'gateway.networking.k8s.io', 'metrics.k8s.io'})
_VERSION_RE = re.compile(r'^v(\d+)(?:(alpha|beta)(\d+))?$')


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key: GA before beta before alpha, higher numbers first, other strings last."""
    match = _VERSION_RE.match(version)
    if not match:
        return (3, 0, 0, version)
    stage = {None: 0, 'beta': 1, 'alpha': 2}[match[2]]
    return (stage, -int(match[1]), -int(match[3] or 0), version)


@dataclasses.dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ''
    verbs: tuple[str, ...] = VERBS_ALL
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    storage_version: str = ''
    selectable_fields: tuple[str, ...] = ()
    custom: bool = False  # served from a CustomResourceDefinition

    @property
    def api_version(self) -> str:
        return f'{self.group}/{self.version}' if self.group else self.version

    @property
    def storage_api_version(self) -> str:
        version = self.storage_version or self.version
        return f'{self.group}/{version}' if self.group else version

    @property
    def group_resource(self) -> str:
        return f'{self.plural}.{self.group}' if self.group else self.plural

    @property
    def gr(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return 'status' in self.subresources

    def storage_key(self) -> kmock.resource:
        return _storage_resource(self.group, self.storage_version or self.version, self.plural)

    def field_selectable(self, field: str) -> bool:
        return (field in ('metadata.name', 'metadata.namespace')
                or field in _BUILTIN_FIELD_SELECTORS.get(self.gr, ())
                or field in self.selectable_fields)


@functools.lru_cache(maxsize=4096)
def _storage_resource(group: str, version: str, plural: str) -> kmock.resource:
    return kmock.resource(group, version, plural)


class Catalogue:
    """An immutable index of the served resource types (rebuilt when CRDs change)."""

    def __init__(self, types: Iterable[ResourceType]) -> None:
        self._gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._gvk: dict[tuple[str, str, str], ResourceType] = {}
        self._groups: dict[str, set[str]] = {}
        for rt in types:
            key = (rt.group, rt.version, rt.plural)
            if key in self._gvr:  # the first definition wins (built-ins before CRDs)
                continue
            self._gvr[key] = rt
            self._gvk.setdefault((rt.group, rt.version, rt.kind), rt)
            self._groups.setdefault(rt.group, set()).add(rt.version)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._gvr.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition('/')
        return self._gvk.get((group, version, kind))

    def groups(self) -> list[str]:
        """Non-core groups in the order of definition (built-ins first)."""
        return [group for group in self._groups if group]

    def versions(self, group: str) -> list[str]:
        """Served versions of a group, the preferred one first."""
        return sorted(self._groups.get(group, ()), key=version_priority)

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return [rt for (g, v, _), rt in self._gvr.items() if g == group and v == version]


@functools.cache
def _bundled_discovery() -> bytes:
    return gzip.decompress(importlib.resources.files('kmock._internal').joinpath('resources.json.gz').read_bytes())


def crd_resource_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves (served versions only)."""
    spec = crd.get('spec') or {}
    names = spec.get('names') or {}
    group = spec.get('group')
    plural = names.get('plural')
    kind = names.get('kind')
    versions = spec.get('versions') or []
    if not (group and plural and kind and versions):
        return []
    storage = next((v.get('name') for v in versions if v.get('storage')), versions[0].get('name'))
    result = []
    for version in versions:
        if not version.get('served'):
            continue
        subresources = version.get('subresources') or spec.get('subresources') or {}
        result.append(ResourceType(
            group=group, version=version['name'], plural=plural, kind=kind,
            namespaced=spec.get('scope', 'Namespaced') == 'Namespaced',
            singular=names.get('singular') or kind.lower(),
            verbs=VERBS_ALL,
            short_names=tuple(names.get('shortNames') or ()),
            categories=tuple(names.get('categories') or ()),
            subresources=tuple(sub for sub in ('status', 'scale') if sub in subresources),
            storage_version=storage,
            selectable_fields=tuple(str(field.get('jsonPath', '')).lstrip('.')
                                    for field in version.get('selectableFields') or ()),
            custom=True,
        ))
    return result


_CRD_CACHE: dict[tuple[tuple[str, int, int], ...], tuple[dict[str, Any], ...]] = {}
_CRD_CACHE_LOCK = threading.Lock()


def load_crds(*dirs: str | os.PathLike[str]) -> tuple[dict[str, Any], ...]:
    """
    Load the apiextensions.k8s.io/v1 CustomResourceDefinitions from YAML/JSON files under the dirs.

    The parsed documents are cached per process (keyed by the files' paths, sizes and mtimes)
    and shared by the emulators: treat them as read-only.
    """
    files: list[pathlib.Path] = []
    for directory in dirs:
        path = pathlib.Path(directory).resolve()
        if not path.is_dir():
            raise FileNotFoundError(f'CRD directory not found: {path}')
        files.extend(sorted(p for p in path.rglob('*') if p.suffix in ('.yaml', '.yml', '.json') and p.is_file()))
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    with _CRD_CACHE_LOCK:
        if stamp in _CRD_CACHE:
            return _CRD_CACHE[stamp]
        found: dict[str, tuple[pathlib.Path, dict[str, Any]]] = {}
        for path in files:
            with open(path, 'rb') as f:
                docs = list(yaml.load_all(f, Loader=_YAML_LOADER))
            for doc in docs:
                if not isinstance(doc, dict) or doc.get('kind') != 'CustomResourceDefinition':
                    continue
                if doc.get('apiVersion') != 'apiextensions.k8s.io/v1':
                    continue
                doc = _jsonable(doc)
                name = (doc.get('metadata') or {}).get('name')
                if not name:
                    raise ValueError(f'a CustomResourceDefinition without a name in {path}')
                if name in found and found[name][1]['spec'] != doc['spec']:
                    raise ValueError(f'conflicting definitions of the CRD {name}: {found[name][0]} and {path}')
                found[name] = (path, doc)
        result = tuple(doc for _, doc in found.values())
        _CRD_CACHE[stamp] = result
        return result


# ---------------------------------------------------------------------------------------------
# Paths and selectors
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ApiPath:
    """A resource URL: /api/v1/... or /apis/<group>/<version>/..."""
    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_api_path(path: str) -> ApiPath | None:
    """Parse a resource URL like the API server's RequestInfoFactory; None for non-resource URLs."""
    parts = [part for part in path.split('/') if part]
    if len(parts) >= 3 and parts[0] == 'api':
        group, version, rest = '', parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == 'apis':
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    # /namespaces/<ns>/<plural>/... is namespaced; /namespaces/<name>[/status|/finalize] is the Namespace itself.
    if rest[0] == 'namespaces' and len(rest) > 2 and rest[2] not in ('status', 'finalize'):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = '/'.join(rest[2:]) or None
    return ApiPath(group, version, plural, namespace, name, subresource)


_QUALIFIED_NAME_RE = re.compile(r'^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')
_DNS1123_LABEL_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
_DNS1123_SUBDOMAIN_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
_DNS1035_LABEL_RE = re.compile(r'^[a-z]([-a-z0-9]*[a-z0-9])?$')


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition('/')
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN_RE.match(prefix)):
        return 'prefix part must be a lowercase RFC 1123 subdomain'
    if not name or len(name) > 63 or not _QUALIFIED_NAME_RE.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                'with an alphanumeric character, at most 63 characters')
    return None


def _label_value_problem(value: str) -> str | None:
    if len(value) > 63:
        return 'must be no more than 63 characters'
    if value and not _QUALIFIED_NAME_RE.match(value):
        return ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                'and must start and end with an alphanumeric character')
    return None


Requirement = tuple[str, str, tuple[str, ...]]


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, []
    for char in text:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
        if char == ',' and depth == 0:
            terms.append(''.join(current))
            current = []
        else:
            current.append(char)
    terms.append(''.join(current))
    return terms


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a label selector: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k, k>1, k<1."""
    if not text or not text.strip():
        return []
    result: list[Requirement] = []
    for raw in _split_terms(text):
        term = raw.strip()
        if match := re.fullmatch(r'!\s*([^\s!=<>(),]+)', term):
            key, op, values = match[1], '!', ()
        elif match := re.fullmatch(r'([^\s!=<>(),]+)\s+(in|notin)\s*\(([^()]*)\)', term):
            key, op = match[1], match[2]
            values = tuple(value.strip() for value in match[3].split(','))
            if not all(values):
                raise _bad_request(f'unable to parse requirement: values in {term!r} must be non-empty')
        elif match := re.fullmatch(r'([^\s!=<>(),]+)\s*(==|=|!=|<|>)\s*([^\s!=<>(),]*)', term):
            key, op, values = match[1], {'==': '='}.get(match[2], match[2]), (match[3],)
            if op in '<>' and not re.fullmatch(r'-?\d+', match[3]):
                raise _bad_request(f'unable to parse requirement: for {op!r} the value must be an integer: {term!r}')
        elif re.fullmatch(r'[^\s!=<>(),]+', term):
            key, op, values = term, 'exists', ()
        else:
            raise _bad_request(f'unable to parse requirement: {term!r} in the label selector {text!r}')
        if problem := _qualified_name_problem(key):
            raise _bad_request(f'unable to parse requirement: invalid label key {key!r}: {problem}')
        for value in values:
            if op not in '<>' and (problem := _label_value_problem(value)):
                raise _bad_request(f'unable to parse requirement: invalid label value {value!r}: {problem}')
        result.append((key, op, values))
    return result


def match_labels(requirements: Sequence[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == 'exists' and not present:
            return False
        if op == '!' and present:
            return False
        if op == '=' and (not present or value != values[0]):
            return False
        if op == '!=' and present and value == values[0]:
            return False
        if op == 'in' and (not present or value not in values):
            return False
        if op == 'notin' and present and value in values:
            return False
        if op in '<>':
            try:
                number = int(value) if present else None
            except (TypeError, ValueError):
                number = None
            if number is None or (op == '<' and not number < int(values[0])) or (op == '>' and not number > int(values[0])):
                return False
    return True


FieldRequirement = tuple[str, str, str]


def parse_field_selector(text: str | None, rt: ResourceType) -> list[FieldRequirement]:
    if not text or not text.strip():
        return []
    result: list[FieldRequirement] = []
    for raw in text.split(','):
        match = re.fullmatch(r'\s*([^!=\s]+)\s*(==|=|!=)\s*(\S*)\s*', raw)
        if not match:
            raise _bad_request(f'invalid selector: {text!r}; can\'t understand {raw!r}')
        field, op, value = match[1], {'==': '='}.get(match[2], match[2]), match[3]
        if not rt.field_selectable(field):
            raise _bad_request(f'field label not supported: {field}')
        result.append((field, op, value))
    return result


def _field_value(obj: Mapping[str, Any], field: str) -> str:
    node: Any = obj
    for part in field.split('.'):
        if not isinstance(node, Mapping) or part not in node:
            return ''
        node = node[part]
    if isinstance(node, bool):
        return 'true' if node else 'false'
    return '' if node is None else str(node)


def match_fields(requirements: Sequence[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    for field, op, value in requirements:
        actual = _field_value(obj, field)
        if (op == '=') != (actual == value):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Managed fields & merging
# ---------------------------------------------------------------------------------------------

Path = tuple[str, ...]
_TRACKED_METADATA = ('labels', 'annotations', 'finalizers', 'ownerReferences')
_SYSTEM_METADATA = ('name', 'namespace', 'uid', 'creationTimestamp', 'generation', 'resourceVersion',
                    'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink')


def _leaves(node: Any, path: Path, out: dict[Path, Any]) -> None:
    """Leaf paths: maps are walked, lists/scalars/empty maps are leaves (atomic)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            _leaves(value, path + (str(key),), out)
    else:
        out[path] = node


def _tracked_leaves(obj: Mapping[str, Any], scope: str) -> dict[Path, Any]:
    """The field paths ownership is tracked for. scope: 'all', 'main' (no status), 'status'."""
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ('apiVersion', 'kind'):
            continue
        if scope == 'status' and key != 'status':
            continue
        if scope == 'main' and key == 'status':
            continue
        if key == 'metadata':
            if isinstance(value, dict):
                for meta_key in _TRACKED_METADATA:
                    if value.get(meta_key) is not None:
                        _leaves(value[meta_key], ('metadata', meta_key), out)
            continue
        _leaves(value, (key,), out)
    return out


class _PathIndex:
    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = set(paths)
        self.prefixes = {path[:i] for path in self.paths for i in range(1, len(path) + 1)}

    def overlaps(self, path: Path) -> bool:
        """Same path, an ancestor or a descendant of one of the paths."""
        return path in self.prefixes or any(path[:i] in self.paths for i in range(1, len(path)))


def _get_path(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _del_path(obj: Any, path: Path) -> None:
    parent = _get_path(obj, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _fmt_path(path: Path) -> str:
    return '.' + '.'.join(path)


def _to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    ordered = sorted(paths)
    for path in ordered:
        node = root
        for part in path:
            node = node.setdefault(f'f:{part}', {})
    for path in ordered:  # a leaf that also has children is marked with '.' (as in FieldsV1)
        node = root
        for part in path:
            node = node[f'f:{part}']
        if node and '.' not in node:
            node['.'] = {}
    return root


def _from_fields_v1(fields: Any) -> set[Path]:
    out: set[Path] = set()

    def walk(node: Any, path: Path) -> None:
        children = [key for key in (node or {}) if key != '.']
        if path and (not children or '.' in (node or {})):
            out.add(path)
        for key in children:
            if key.startswith('f:'):
                walk(node[key], path + (key[2:],))
            elif path:  # k:/v:/i: list items (from a real server): the list is atomic here
                out.add(path)

    walk(fields if isinstance(fields, dict) else {}, ())
    return out


@dataclasses.dataclass
class _Entry:
    manager: str
    operation: str
    subresource: str
    api_version: str
    time: str
    paths: set[Path]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)


def _parse_managed(obj: Mapping[str, Any]) -> list[_Entry]:
    entries = []
    for item in (obj.get('metadata') or {}).get('managedFields') or []:
        if not isinstance(item, dict) or not item.get('manager'):
            continue
        entries.append(_Entry(item['manager'], item.get('operation', 'Update'), item.get('subresource', ''),
                              item.get('apiVersion', ''), item.get('time', ''), _from_fields_v1(item.get('fieldsV1'))))
    return entries


def _render_managed(entries: Iterable[_Entry]) -> list[dict[str, Any]]:
    result = []
    for entry in entries:
        if not entry.paths:
            continue
        item: dict[str, Any] = {'manager': entry.manager, 'operation': entry.operation,
                                'apiVersion': entry.api_version, 'time': entry.time,
                                'fieldsType': 'FieldsV1', 'fieldsV1': _to_fields_v1(entry.paths)}
        if entry.subresource:
            item['subresource'] = entry.subresource
        result.append(item)
    return result


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _merge_applied(target: dict[str, Any], config: Mapping[str, Any]) -> None:
    """SSA merge (in place): maps merge recursively, everything else is replaced; null removes."""
    for key, value in config.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_applied(target[key], value)
        else:
            target[key] = _drop_nulls(value)


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _strip_directives(patch: Any) -> Any:
    """Strategic merge patch directives ($patch, $retainKeys, ...) are not emulated: drop them."""
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not str(k).startswith('$')}
    if isinstance(patch, list):
        return [_strip_directives(v) for v in patch if not (isinstance(v, dict) and '$patch' in v)]
    return patch


def _spec_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ('metadata', 'status', 'apiVersion', 'kind')}


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without the parts that change on every write (resourceVersion, managedFields times)."""
    meta = dict(obj.get('metadata') or {})
    meta.pop('resourceVersion', None)
    meta['managedFields'] = [{k: v for k, v in item.items() if k != 'time'}
                             for item in meta.get('managedFields') or [] if isinstance(item, dict)]
    return {**obj, 'metadata': meta}


# ---------------------------------------------------------------------------------------------
# Request log & fault injection (thread-safe: written by the server thread, read by tests)
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: bytes = b''
    fault: str | None = None  # 'fail' or 'drop' when injected
    status: int | None = None  # the response status (None for dropped connections)

    def matches(self, method: str | None = None, path_contains: str | None = None, *,
                content_type: str | None = None, status: int | None = None) -> bool:
        return ((method is None or self.method.upper() == method.upper())
                and (path_contains is None or path_contains in self.path)
                and (content_type is None or (self.content_type or '').split(';')[0].strip() == content_type)
                and (status is None or self.status == status))


class RequestLog(Sequence[RequestRecord]):
    """Every request the emulator received, in arrival order (faulted ones included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        with self._lock:
            return self._items[index]

    def __iter__(self) -> Iterator[RequestRecord]:
        with self._lock:
            return iter(list(self._items))

    def filter(self, method: str | None = None, path_contains: str | None = None, *,
               content_type: str | None = None, status: int | None = None) -> list[RequestRecord]:
        return [r for r in self if r.matches(method, path_contains, content_type=content_type, status=status)]

    def count(self, method: str | None = None, path_contains: str | None = None, *,
              content_type: str | None = None, status: int | None = None) -> int:
        """How many requests match: method (any case), a substring of the path, media type, status."""
        return len(self.filter(method, path_contains, content_type=content_type, status=status))

    def __repr__(self) -> str:
        return f'RequestLog({[f"{r.method} {r.path}" for r in self]!r})'


@dataclasses.dataclass
class FaultRule:
    kind: str  # 'fail' or 'drop'
    remaining: int
    status: int = 500
    retry_after: float | None = None
    method: str | None = None
    path_contains: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method.upper() == method.upper())
                and (self.path_contains is None or self.path_contains in path))

    def error(self) -> ApiError:
        reason = _REASONS.get(self.status, 'InternalError' if self.status >= 500 else 'BadRequest')
        details: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            seconds = max(0, int(self.retry_after))
            details['retryAfterSeconds'] = seconds
            headers['Retry-After'] = str(seconds)
        return ApiError(self.status, reason, f'injected failure {self.status} (kube_emulator.fail_next)', details, headers)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


# ---------------------------------------------------------------------------------------------
# The handler: kmock's KubernetesEmulator with API-server semantics
# ---------------------------------------------------------------------------------------------

@attrs.frozen(kw_only=True, eq=False)
class ApiRequest(kmock.Request):
    """A kmock request (usable in kmock's DSL) plus what the router needs."""
    api: ApiPath | None = None
    watch: bool = False
    content_type: str = ''
    body_error: str | None = None
    record: RequestRecord | None = None


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    rv: int
    type: str
    group: str
    plural: str
    namespace: str | None
    name: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=json.dumps(payload).encode(), status=status,
                                content_type='application/json', headers=headers)


class KubeApiHandler(kmock.KubernetesEmulator):
    """
    The aiohttp handler with the emulated API server. Everything runs on the server's event loop:
    from other threads, go through :class:`KubeEmulator` (it marshals the calls to the loop).
    """

    def __init__(self, *, crds: Sequence[Mapping[str, Any]] = (), token: str | None = None,
                 namespaces: Iterable[str] = DEFAULT_NAMESPACES, max_watch_seconds: float = 60.0,
                 server_address: str = '127.0.0.1') -> None:
        super().__init__()
        self.token = token
        self.seed_crds = tuple(crds)
        self.seed_namespaces = tuple(namespaces)
        self.max_watch_seconds = max_watch_seconds
        self.server_address = server_address
        self.version_info = dict(VERSION_INFO)
        self.request_log = RequestLog()
        self.faults = FaultInjector()
        self.internal_errors: list[str] = []
        self._rv = 0
        self._events: list[WatchEvent] = []
        self._events_floor = 0
        self._watchers: set[asyncio.Queue[WatchEvent | None]] = set()
        self._catalogue: Catalogue | None = None
        self._catalogue_stamp: tuple[int, int] = (-1, -1)
        self._crd_epoch = 0
        self.resources.load_data(_bundled_discovery())
        for res in [res for res in self.resources if res.group in _EXCLUDED_BUILTIN_GROUPS]:
            del self.resources[res]
        self._seed()

    def __attrs_post_init__(self) -> None:
        """Do not register kmock's fallback reactions: the router (``_route``) replaces them."""

    # -- state ---------------------------------------------------------------------------------

    def _seed(self) -> None:
        crd_rt = self._rt(*_CRD_GR)
        for crd in self.seed_crds:
            self._install_crd(crd_rt, crd)
        ns_rt = self._rt(*_NS_GR)
        for namespace in self.seed_namespaces:
            self._create(ns_rt, None, {'metadata': {'name': namespace}}, manager='kube-apiserver')

    def _install_crd(self, rt: ResourceType, crd: Mapping[str, Any]) -> None:
        """Pre-install a CRD without copying its (shared, read-only) spec."""
        meta = {k: v for k, v in (crd.get('metadata') or {}).items() if k not in _SYSTEM_METADATA}
        meta.update(name=crd['metadata']['name'], uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        obj = {'apiVersion': rt.storage_api_version, 'kind': rt.kind, 'metadata': meta, 'spec': crd['spec']}
        obj['status'] = self._crd_status(obj['spec'], None)
        key = self._key(rt, None, meta['name'])
        if self._live(key) is not None:
            raise _already_exists(rt, meta['name'])
        self._commit(key, obj, 'ADDED')

    def reset_state(self) -> None:
        """Forget all objects, events, requests, faults and kmock reactions; re-install the seeds."""
        self.stop_watches()
        self._objects.clear()
        self._events.clear()
        self._events_floor = self._rv
        self._requests.clear()
        self._payloads.clear()
        self.request_log.clear()
        self.faults.clear()
        self.internal_errors.clear()
        self._crd_epoch += 1
        self._seed()

    def stop_watches(self) -> None:
        for queue in list(self._watchers):
            queue.put_nowait(None)
        self._watchers.clear()

    @property
    def catalogue(self) -> Catalogue:
        stamp = (self._crd_epoch, len(self.resources))
        if self._catalogue is None or stamp != self._catalogue_stamp:
            self._catalogue = self._build_catalogue()
            self._catalogue_stamp = stamp
        return self._catalogue

    def _build_catalogue(self) -> Catalogue:
        builtins: list[ResourceType] = []
        for res, info in self.resources.items():
            if res.group is None or not res.version or not res.plural or not info.kind:
                continue
            builtins.append(ResourceType(
                group=res.group, version=res.version, plural=res.plural, kind=info.kind,
                namespaced=bool(info.namespaced), singular=info.singular or info.kind.lower(),
                verbs=tuple(sorted(info.verbs)) or VERBS_ALL, short_names=tuple(sorted(info.shortnames)),
                categories=tuple(sorted(info.categories)), subresources=tuple(sorted(info.subresources)),
            ))
        storage: dict[tuple[str, str], str] = {}
        for rt in builtins:
            best = storage.get(rt.gr)
            if best is None or version_priority(rt.version) < version_priority(best):
                storage[rt.gr] = rt.version
        types = [dataclasses.replace(rt, storage_version=storage[rt.gr]) for rt in builtins]
        crd_key = _storage_resource(_CRD_GR[0], 'v1', _CRD_GR[1])
        for (res, _, _), stored in list(self._objects.items()):
            if res == crd_key and not stored.deleted:
                types.extend(crd_resource_types(stored.last.raw))
        return Catalogue(types)

    def _rt(self, group: str, plural: str) -> ResourceType:
        cat = self.catalogue
        for version in cat.versions(group):
            if rt := cat.get(group, version, plural):
                return rt
        raise LookupError(f'{plural}.{group} is not served')

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> tuple[kmock.resource, str | None, str]:
        return (rt.storage_key(), namespace if rt.namespaced else None, name)

    def _live(self, key: tuple[kmock.resource, str | None, str]) -> dict[str, Any] | None:
        if key not in self._objects:
            return None
        stored = self._objects[key]
        return None if stored.deleted else stored.last.raw

    def _scope(self, rt: ResourceType, subresource: str | None) -> str:
        if subresource == 'status':
            return 'status'
        return 'main' if rt.has_status else 'all'

    def _render(self, obj: Mapping[str, Any], rt: ResourceType) -> dict[str, Any]:
        return {**obj, 'apiVersion': rt.api_version, 'kind': rt.kind}

    def _commit(self, key: tuple[kmock.resource, str | None, str], obj: dict[str, Any], event: str,
                old: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store a new version (new resourceVersion), notify the watchers."""
        self._rv += 1
        obj = {**obj, 'metadata': {**obj['metadata'], 'resourceVersion': str(self._rv)}}
        if event == 'ADDED':
            if key in self._objects:
                self._objects[key].create(obj)
            else:
                self._objects[key] = obj
        elif event == 'MODIFIED':
            self._objects[key].history.append(obj)
        else:
            self._objects[key].delete()
        res, namespace, name = key
        record = WatchEvent(self._rv, event, res.group or '', res.plural or '', namespace, name, obj, old)
        self._events.append(record)
        for queue in list(self._watchers):
            queue.put_nowait(record)
        if (res.group, res.plural) == _CRD_GR:
            self._crd_epoch += 1
        return obj

    # -- HTTP entry point --------------------------------------------------------------------------

    # Seconds each request waits before it is served: a real API server is a network round trip away,
    # and concurrency only shows its worth against that (bench/bench_apply.py sets it).
    latency: float = 0.0

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        body = await raw_request.read()
        record = RequestRecord(method=raw_request.method, path=raw_request.path, query=dict(raw_request.query),
                               content_type=raw_request.headers.get('Content-Type'), body=body)
        self.request_log.append(record)
        response: aiohttp.web.StreamResponse
        try:
            fault = self.faults.take(raw_request.method, raw_request.path)
            if fault is not None and fault.kind == 'drop':
                record.fault = 'drop'
                if raw_request.transport is not None:
                    raw_request.transport.abort()
                raise asyncio.CancelledError('kube_emulator.drop_next')
            if fault is not None:
                record.fault = 'fail'
                raise fault.error()
            if not self._authorized(raw_request):
                raise ApiError(401, 'Unauthorized', 'Unauthorized')
            request = self._parse(raw_request, body, record)
            self._requests.append(request)
            response = await self._handle(request)
        except ApiError as e:
            response = _json_response(e.status(), e.code, e.headers)
        except kmock.KubernetesError as e:  # raised by a kmock reaction
            error = ApiError(e.status, e.reason or type(e).__name__, e.message or repr(e))
            response = _json_response(error.status(), error.code)
        except Exception as e:  # noqa: BLE001 -- an emulator bug: answer 500, the fixture fails the test
            self.internal_errors.append(''.join(traceback.format_exception(e)))
            error = ApiError(500, 'InternalError', f'kube_emulator internal error: {e!r}')
            response = _json_response(error.status(), 500)
        record.status = response.status
        return response

    def _authorized(self, raw_request: aiohttp.web.BaseRequest) -> bool:
        if self.token is None:
            return True
        path = '/' + raw_request.path.strip('/')
        if path == '/version' or path.split('/')[1] in ('healthz', 'livez', 'readyz'):
            return True
        return raw_request.headers.get('Authorization', '') == f'Bearer {self.token}'

    def _parse(self, raw_request: aiohttp.web.BaseRequest, body: bytes, record: RequestRecord | None = None) -> ApiRequest:
        media = raw_request.headers.get('Content-Type', '').split(';', 1)[0].strip().lower()
        data: Any = None
        body_error: str | None = None
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError as e:
                if 'yaml' in media:
                    try:
                        data = _jsonable(yaml.load(body, Loader=_YAML_LOADER))
                    except yaml.YAMLError as ye:
                        body_error = str(ye)
                else:
                    body_error = str(e)
        api = parse_api_path(raw_request.path)
        watch = raw_request.method == 'GET' and _truthy(raw_request.query.get('watch'))
        action: kmock.action | None = None
        if api is not None:
            action = {
                'GET': kmock.action.WATCH if watch else kmock.action.FETCH if api.name else kmock.action.LIST,
                'POST': kmock.action.CREATE, 'PATCH': kmock.action.UPDATE, 'DELETE': kmock.action.DELETE,
            }.get(raw_request.method)
        return ApiRequest(
            id=len(self._requests), raw_request=raw_request, url=raw_request.url, method=raw_request.method,
            params=dict(raw_request.query), headers=dict(raw_request.headers), cookies=dict(raw_request.cookies),
            body=body, text=body.decode('utf-8', 'replace'), data=data, action=action,
            resource=kmock.resource(api.group, api.version, api.plural) if api else None,
            namespace=api.namespace if api else None, name=api.name if api else None,
            subresource=api.subresource if api else None,
            api=api, watch=watch, content_type=media, body_error=body_error, record=record,
        )

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if self._payloads:  # kmock reactions registered by a test take precedence
            with contextlib.suppress(NotImplementedError):
                return await kmock.RawHandler._handle(self, request)
        assert isinstance(request, ApiRequest)
        return await self._route(request)

    # -- routing & discovery -----------------------------------------------------------------------

    async def _route(self, req: ApiRequest) -> aiohttp.web.StreamResponse:
        path = '/' + req.url.path.strip('/')
        parts = path.strip('/').split('/') if path != '/' else []
        if parts and parts[0] in ('healthz', 'livez', 'readyz'):
            return aiohttp.web.Response(text='ok')
        if path == '/version':
            return _json_response(self.version_info)
        if path == '/':
            return _json_response({'paths': self._root_paths()})
        if req.api is not None:
            return await self._serve_resource(req)
        if req.method != 'GET':
            raise _method_not_allowed()
        if path == '/api':
            return _json_response({'kind': 'APIVersions', 'versions': ['v1'], 'serverAddressByClientCIDRs': [
                {'clientCIDR': '0.0.0.0/0', 'serverAddress': self.server_address}]})
        if path == '/apis':
            cat = self.catalogue
            return _json_response({'kind': 'APIGroupList', 'apiVersion': 'v1',
                                   'groups': [self._api_group(cat, group) for group in cat.groups()]})
        if len(parts) == 2 and parts[0] == 'api':
            return _json_response(self._resource_list('', parts[1]))
        if len(parts) == 2 and parts[0] == 'apis':
            if parts[1] not in self.catalogue.groups():
                raise _path_not_found()
            return _json_response({'apiVersion': 'v1', **self._api_group(self.catalogue, parts[1])})
        if len(parts) == 3 and parts[0] == 'apis':
            return _json_response(self._resource_list(parts[1], parts[2]))
        raise _path_not_found()

    def _root_paths(self) -> list[str]:
        cat = self.catalogue
        paths = {'/api', '/api/v1', '/apis', '/healthz', '/livez', '/readyz', '/version'}
        for group in cat.groups():
            paths.add(f'/apis/{group}')
            paths.update(f'/apis/{group}/{version}' for version in cat.versions(group))
        return sorted(paths)

    @staticmethod
    def _api_group(cat: Catalogue, group: str) -> dict[str, Any]:
        versions = [{'groupVersion': f'{group}/{version}', 'version': version} for version in cat.versions(group)]
        return {'kind': 'APIGroup', 'name': group, 'versions': versions, 'preferredVersion': dict(versions[0])}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        types = self.catalogue.resources(group, version)
        if not types:
            raise _path_not_found()
        resources: list[dict[str, Any]] = []
        for rt in types:
            entry: dict[str, Any] = {'name': rt.plural, 'singularName': rt.singular, 'namespaced': rt.namespaced,
                                     'kind': rt.kind, 'verbs': list(rt.verbs)}
            if rt.short_names:
                entry['shortNames'] = list(rt.short_names)
            if rt.categories:
                entry['categories'] = list(rt.categories)
            resources.append(entry)
            for sub in rt.subresources:
                sub_entry: dict[str, Any] = {'name': f'{rt.plural}/{sub}', 'singularName': '',
                                             'namespaced': rt.namespaced, 'kind': rt.kind,
                                             'verbs': list(_SUBRESOURCE_VERBS.get(sub, ('get',)))}
                if sub in _SUBRESOURCE_KINDS:
                    sub_group, sub_version, sub_kind = _SUBRESOURCE_KINDS[sub]
                    sub_entry.update(kind=sub_kind, version=sub_version)
                    if sub_group:
                        sub_entry['group'] = sub_group
                resources.append(sub_entry)
        return {'kind': 'APIResourceList', 'apiVersion': 'v1',
                'groupVersion': f'{group}/{version}' if group else version, 'resources': resources}

    async def _serve_resource(self, req: ApiRequest) -> aiohttp.web.StreamResponse:
        ap = req.api
        assert ap is not None
        rt = self.catalogue.get(ap.group, ap.version, ap.plural)
        if rt is None:
            raise _path_not_found()
        if (rt.namespaced and ap.name is not None and ap.namespace is None) or (not rt.namespaced and ap.namespace):
            raise _path_not_found()
        if ap.subresource is not None:
            if ap.subresource not in rt.subresources or ap.name is None:
                raise _path_not_found()
            if ap.subresource != 'status':
                raise _method_not_allowed(f'the {ap.subresource} subresource is not emulated by kube_emulator')
        method = req.method.value.upper() if hasattr(req.method, 'value') else str(req.method).upper()
        verb = {
            ('GET', True): 'get', ('GET', False): 'list', ('POST', False): 'create', ('PUT', True): 'update',
            ('PATCH', True): 'patch', ('DELETE', True): 'delete', ('DELETE', False): 'deletecollection',
        }.get((method, ap.name is not None))
        if req.watch:
            verb = 'watch'
        allowed = _SUBRESOURCE_VERBS['status'] if ap.subresource else rt.verbs
        if verb is None or verb not in allowed:
            raise _method_not_allowed()
        dry_run = 'dryRun' in req.params
        if verb == 'watch':
            return await self._serve_watch(req, rt)
        if verb == 'list':
            return _json_response(self._list(req, rt))
        if verb == 'get':
            obj = self._live(self._key(rt, ap.namespace, ap.name or ''))
            if obj is None:
                raise _not_found(rt, ap.name or '')
            return _json_response(self._render(obj, rt))
        if verb == 'create':
            if rt.namespaced and ap.namespace is None:
                raise _method_not_allowed()
            obj = self._create(rt, ap.namespace, self._body_dict(req), manager=self._manager(req), dry_run=dry_run)
            return _json_response(self._render(obj, rt), 201)
        if verb == 'update':
            return _json_response(self._render(self._replace(req, rt, dry_run), rt))
        if verb == 'patch':
            obj, code = self._patch(req, rt, dry_run)
            return _json_response(self._render(obj, rt), code)
        if verb == 'delete':
            return _json_response(self._render(self._delete_request(req, rt, dry_run), rt))
        return _json_response(self._delete_collection(req, rt, dry_run))

    # -- request helpers ---------------------------------------------------------------------------

    @staticmethod
    def _body_dict(req: ApiRequest) -> dict[str, Any]:
        if req.body_error:
            raise _bad_request(f'the body of the request could not be decoded: {req.body_error}')
        if not isinstance(req.data, dict):
            raise _bad_request('the body of the request must be a JSON/YAML object')
        return req.data

    @staticmethod
    def _manager(req: ApiRequest) -> str:
        manager = req.params.get('fieldManager')
        if manager is None:
            agent = req.headers.get('User-Agent') or req.headers.get('user-agent') or ''
            manager = agent.split('/', 1)[0].strip() or 'unknown'
        if len(manager) > 128:
            raise ApiError(422, 'Invalid', 'fieldManager: Too long: may not be more than 128 bytes')
        return manager

    def _selection(self, req: ApiRequest, rt: ResourceType) -> Callable[[Mapping[str, Any]], bool]:
        assert req.api is not None
        labels = parse_label_selector(req.params.get('labelSelector'))
        fields = parse_field_selector(req.params.get('fieldSelector'), rt)
        namespace, name = req.api.namespace, req.api.name

        def matches(obj: Mapping[str, Any]) -> bool:
            meta = obj.get('metadata') or {}
            return ((namespace is None or meta.get('namespace') == namespace)
                    and (name is None or meta.get('name') == name)
                    and match_labels(labels, meta.get('labels'))
                    and match_fields(fields, obj))
        return matches

    def _select(self, rt: ResourceType, matches: Callable[[Mapping[str, Any]], bool]) -> list[tuple[Any, dict[str, Any]]]:
        res = rt.storage_key()
        found = []
        for key, stored in list(self._objects.items()):
            if key[0] == res and not stored.deleted:
                obj = stored.last.raw
                if matches(obj):
                    found.append((key, obj))
        found.sort(key=lambda item: (item[0][1] or '', item[0][2]))
        return found

    def _list(self, req: ApiRequest, rt: ResourceType) -> dict[str, Any]:
        items = [obj for _, obj in self._select(rt, self._selection(req, rt))]
        meta: dict[str, Any] = {'resourceVersion': str(self._rv)}
        token = req.params.get('continue')
        if token:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token.encode())))
            except (ValueError, TypeError, binascii.Error):
                raise ApiError(410, 'Expired', 'The provided continue parameter is too old or malformed')
            items = [obj for obj in items
                     if ((obj['metadata'].get('namespace') or ''), obj['metadata']['name']) > after]
        limit = int(req.params.get('limit') or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]['metadata']
            meta['continue'] = base64.urlsafe_b64encode(
                json.dumps([last.get('namespace') or '', last['name']]).encode()).decode()
            meta['remainingItemCount'] = len(items) - limit
            items = items[:limit]
        return {'apiVersion': rt.api_version, 'kind': f'{rt.kind}List', 'metadata': meta,
                'items': [self._render(obj, rt) for obj in items]}

    def _check_type_meta(self, rt: ResourceType, body: Mapping[str, Any]) -> None:
        api_version, kind = body.get('apiVersion'), body.get('kind')
        if api_version and api_version != rt.api_version:
            raise _bad_request(f'the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})')
        if kind and kind != rt.kind:
            raise _bad_request(f'the kind in the data ({kind}) does not match the expected kind ({rt.kind})')
        if not isinstance(body.get('metadata', {}), dict):
            raise _bad_request('metadata must be an object')

    # -- validation & type-specific behaviour ----------------------------------------------------

    def _validate(self, rt: ResourceType, obj: Mapping[str, Any]) -> None:
        meta = obj['metadata']
        name = meta.get('name') or ''
        causes: list[tuple[str, str]] = []
        problem = None
        if rt.group == 'rbac.authorization.k8s.io':
            if name in ('.', '..') or '/' in name or '%' in name:
                problem = "may not be '.' or '..' and may not contain '/' or '%'"
        elif rt.gr == _NS_GR:
            if len(name) > 63 or not _DNS1123_LABEL_RE.match(name):
                problem = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                           'and must start and end with an alphanumeric character')
        elif rt.gr == ('', 'services'):
            if len(name) > 63 or not _DNS1035_LABEL_RE.match(name):
                problem = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                           'alphabetic character, and end with an alphanumeric character')
        elif len(name) > 253 or not _DNS1123_SUBDOMAIN_RE.match(name):
            problem = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                       'and must start and end with an alphanumeric character')
        if problem:
            causes.append(('metadata.name', f'Invalid value: "{name}": {problem}'))
        for field in ('labels', 'annotations'):
            values = meta.get(field)
            if values is None:
                continue
            if not isinstance(values, dict):
                raise _bad_request(f'metadata.{field} must be a map of strings')
            for key, value in values.items():
                if not isinstance(value, str):
                    raise _bad_request(f'metadata.{field}.{key}: a string is expected, got {type(value).__name__} {value!r}')
                if problem := _qualified_name_problem(key):
                    causes.append((f'metadata.{field}', f'Invalid value: "{key}": {problem}'))
                elif field == 'labels' and (problem := _label_value_problem(value)):
                    causes.append(('metadata.labels', f'Invalid value: "{value}": {problem}'))
        if rt.gr == _CRD_GR:
            causes.extend(self._crd_problems(obj))
        for field in _STRING_MAPS.get(rt.gr, ()):
            values = obj.get(field)
            if values is not None and (not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())):
                raise _bad_request(f'{rt.kind} in version "v1" cannot be handled as a {rt.kind}: {field} must be a map '
                                   f'of strings, got {json.dumps(values)[:200]}')
        if rt.gr == _SECRET_GR and isinstance(obj.get('data'), dict):
            for key, value in obj['data'].items():
                try:
                    base64.b64decode(str(value), validate=True)
                except (binascii.Error, ValueError):
                    raise _bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at data.{key}')
        if causes:
            raise _invalid(rt, name, causes)

    @staticmethod
    def _crd_problems(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
        spec = obj.get('spec') or {}
        names = spec.get('names') or {}
        causes = []
        if not spec.get('group'):
            causes.append(('spec.group', 'Required value'))
        if not names.get('plural') or not names.get('kind'):
            causes.append(('spec.names', 'Required value: plural and kind are required'))
        if spec.get('scope') not in ('Namespaced', 'Cluster'):
            causes.append(('spec.scope', f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"'))
        versions = spec.get('versions') or []
        if not versions or sum(1 for v in versions if isinstance(v, dict) and v.get('storage')) != 1:
            causes.append(('spec.versions', 'Invalid value: must have exactly one version marked as storage version'))
        expected = f'{names.get("plural")}.{spec.get("group")}'
        if obj['metadata'].get('name') != expected:
            causes.append(('metadata.name', f'Invalid value: "{obj["metadata"].get("name")}": must be spec.names.plural+"."+spec.group'))
        return causes

    @staticmethod
    def _crd_status(spec: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
        old = old or {}
        previous = {c.get('type'): c for c in old.get('conditions') or [] if isinstance(c, dict)}

        def condition(kind: str, reason: str, message: str) -> dict[str, Any]:
            before = previous.get(kind) or {}
            since = before.get('lastTransitionTime') if before.get('status') == 'True' else None
            return {'type': kind, 'status': 'True', 'lastTransitionTime': since or _now(),
                    'reason': reason, 'message': message}

        names = dict(spec.get('names') or {})
        names.setdefault('singular', str(names.get('kind', '')).lower())
        names.setdefault('listKind', f'{names.get("kind", "")}List')
        storage = [v['name'] for v in spec.get('versions') or [] if isinstance(v, dict) and v.get('storage')]
        return {
            'acceptedNames': names,
            'conditions': [condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
                           condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
            'storedVersions': list(dict.fromkeys(list(old.get('storedVersions') or []) + storage)),
        }

    def _normalize(self, rt: ResourceType, obj: dict[str, Any], old: Mapping[str, Any] | None,
                   subresource: str | None) -> None:
        """What the real registry strategies do on writes (only for what our code can observe)."""
        meta = obj['metadata']
        if rt.gr == _NS_GR:
            meta['labels'] = {**(meta.get('labels') or {}), 'kubernetes.io/metadata.name': meta['name']}
            if old is None:
                spec = dict(obj.get('spec') or {})
                spec.setdefault('finalizers', ['kubernetes'])
                obj['spec'] = spec
                obj['status'] = {'phase': 'Active'}
        elif rt.gr == _SECRET_GR and subresource is None:
            string_data = obj.pop('stringData', None)
            if isinstance(string_data, dict):
                data = dict(obj.get('data') or {})
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode()).decode()
                obj['data'] = data
            if old is None:
                obj.setdefault('type', 'Opaque')
        elif rt.gr == _CRD_GR and subresource is None:
            obj['status'] = self._crd_status(obj.get('spec') or {}, (old or {}).get('status'))

    def _require_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns_obj = self._live(self._key(self._rt(*_NS_GR), None, namespace))
        if ns_obj is None:
            raise ApiError(404, 'NotFound', f'namespaces "{namespace}" not found',
                           {'name': namespace, 'kind': 'namespaces'})
        if ns_obj['metadata'].get('deletionTimestamp'):
            raise ApiError(403, 'Forbidden',
                           f'{rt.group_resource} "{name}" is forbidden: unable to create new content in namespace '
                           f'{namespace} because it is being terminated',
                           _details(rt, name, causes=[{'reason': 'NamespaceTerminating', 'field': 'metadata.namespace',
                                                       'message': f'namespace {namespace} is being terminated'}]))

    # -- writes ----------------------------------------------------------------------------------

    def _create(self, rt: ResourceType, namespace: str | None, body: Mapping[str, Any], *, manager: str | None,
                operation: str = 'Update', applied: set[Path] | None = None, dry_run: bool = False) -> dict[str, Any]:
        self._check_type_meta(rt, body)
        obj = _copy(dict(body))
        obj['apiVersion'] = rt.storage_api_version
        obj['kind'] = rt.kind
        meta = obj.get('metadata')
        if not isinstance(meta, dict):
            meta = obj['metadata'] = {}
        if meta.get('resourceVersion'):
            raise ApiError(500, 'InternalError', 'resourceVersion should not be set on objects to be created')
        if rt.namespaced:
            body_ns = meta.get('namespace')
            namespace = namespace or body_ns
            if not namespace:
                raise _bad_request('a namespace is required for a namespaced object')
            if body_ns and body_ns != namespace:
                raise _bad_request('the namespace of the provided object does not match the namespace sent on the request')
            meta['namespace'] = namespace
        else:
            meta.pop('namespace', None)
            namespace = None
        name = meta.get('name')
        if not name:
            prefix = meta.get('generateName')
            if not prefix:
                raise _invalid(rt, '', [('metadata.name', 'Required value: name or generateName is required')])
            for _ in range(100):
                name = prefix + ''.join(random.choices(_GEN_ALPHABET, k=5))
                if self._live(self._key(rt, namespace, name)) is None:
                    break
            meta['name'] = name
        for field in _SYSTEM_METADATA:
            if field not in ('name', 'namespace'):
                meta.pop(field, None)
        self._validate(rt, obj)
        if rt.namespaced:
            assert namespace is not None
            self._require_namespace(rt, namespace, name)
        key = self._key(rt, namespace, name)
        if self._live(key) is not None:
            raise _already_exists(rt, name)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        if rt.has_status:
            obj.pop('status', None)
        self._normalize(rt, obj, None, None)
        paths = applied if applied is not None else set(_tracked_leaves(obj, self._scope(rt, None)))
        if manager and paths:
            meta['managedFields'] = _render_managed([_Entry(manager, operation, '', rt.api_version, _now(), paths)])
        if dry_run:
            return obj
        return self._commit(key, obj, 'ADDED')

    def _update(self, rt: ResourceType, key: Any, live: dict[str, Any], candidate: dict[str, Any], *,
                manager: str, subresource: str | None, dry_run: bool,
                entries: list[_Entry] | None = None) -> dict[str, Any]:
        """Write a new version computed from the live one (PUT/PATCH/apply/status). No-op writes are skipped.

        ``entries`` are the managed fields an apply computed; without them this is an Update by ``manager``.
        """
        _, namespace, name = key
        if not isinstance(candidate, dict):
            raise ApiError(422, 'Invalid', 'the patched object must be a JSON object')
        meta = candidate.get('metadata')
        if not isinstance(meta, dict):
            meta = {}
        if meta.get('name', name) != name:
            raise _invalid(rt, name, [('metadata.name', 'Invalid value: field is immutable')])
        if rt.namespaced and meta.get('namespace', namespace) != namespace:
            raise _invalid(rt, name, [('metadata.namespace', 'Invalid value: field is immutable')])
        if subresource == 'status':
            new = _copy(live)
            if 'status' in candidate:
                new['status'] = candidate['status']
            else:
                new.pop('status', None)
        else:
            new = candidate
            new['metadata'] = dict(meta)
            if rt.has_status:
                if 'status' in live:
                    new['status'] = live['status']
                else:
                    new.pop('status', None)
        new['apiVersion'] = rt.storage_api_version
        new['kind'] = rt.kind
        meta = new['metadata'] = dict(new['metadata'])
        live_meta = live['metadata']
        for field in _SYSTEM_METADATA:
            if field in live_meta:
                meta[field] = live_meta[field]
            else:
                meta.pop(field, None)
        self._normalize(rt, new, live, subresource)
        self._validate(rt, new)

        if entries is None:  # an Update operation: the writer takes over the fields it changed
            scope = self._scope(rt, subresource)
            entries = _parse_managed(live)
            old_leaves = _tracked_leaves(live, scope)
            new_leaves = _tracked_leaves(new, scope)
            changed = {p for p, v in new_leaves.items() if old_leaves.get(p, _MISSING) != v}
            changed |= old_leaves.keys() - new_leaves.keys()
            if changed:
                index = _PathIndex(changed)
                writer_key = (manager, 'Update', subresource or '')
                writer = next((e for e in entries if e.key == writer_key), None)
                if writer is None:
                    writer = _Entry(manager, 'Update', subresource or '', rt.api_version, '', set())
                    entries.append(writer)
                for entry in entries:
                    entry.paths = {q for q in entry.paths if not index.overlaps(q) or (entry is writer and q in new_leaves)}
                writer.paths |= {p for p in changed if p in new_leaves}
                writer.api_version = rt.api_version
                writer.time = _now()
        if _spec_view(new) != _spec_view(live):
            meta['generation'] = int(live_meta.get('generation') or 0) + 1
        managed = _render_managed(entries)
        if managed:
            meta['managedFields'] = managed
        else:
            meta.pop('managedFields', None)

        if meta.get('deletionTimestamp') and not meta.get('finalizers') and rt.gr != _NS_GR:
            if dry_run:
                return new
            return self._finish_delete(rt, key, new)
        if _comparable(new) == _comparable(live):
            return live  # nothing changed: no new resourceVersion, no event
        if dry_run:
            return new
        return self._commit(key, new, 'MODIFIED', old=live)

    def _replace(self, req: ApiRequest, rt: ResourceType, dry_run: bool) -> dict[str, Any]:
        ap = req.api
        assert ap is not None and ap.name is not None
        body = self._body_dict(req)
        self._check_type_meta(rt, body)
        meta = body.get('metadata') or {}
        if meta.get('name') != ap.name:
            raise _bad_request(f'the name of the object ({meta.get("name")}) does not match the name on the URL ({ap.name})')
        if rt.namespaced and meta.get('namespace') not in (None, ap.namespace):
            raise _bad_request('the namespace of the provided object does not match the namespace sent on the request')
        key = self._key(rt, ap.namespace, ap.name)
        live = self._live(key)
        if live is None:
            raise _not_found(rt, ap.name)
        if meta.get('resourceVersion') and meta['resourceVersion'] != live['metadata'].get('resourceVersion'):
            raise _conflict(rt, ap.name)
        return self._update(rt, key, live, _copy(body), manager=self._manager(req),
                            subresource=ap.subresource, dry_run=dry_run)

    def _patch(self, req: ApiRequest, rt: ResourceType, dry_run: bool) -> tuple[dict[str, Any], int]:
        ap = req.api
        assert ap is not None and ap.name is not None
        media = req.content_type
        if media == 'application/apply-patch+yaml':
            return self._apply(req, rt, dry_run)
        accepted = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']
        if not rt.custom:
            accepted.insert(2, 'application/strategic-merge-patch+json')
        if media not in accepted:
            raise ApiError(415, 'UnsupportedMediaType',
                           f'the body of the request was in an unknown format - accepted media types include: {", ".join(accepted)}')
        key = self._key(rt, ap.namespace, ap.name)
        live = self._live(key)
        if live is None:
            raise _not_found(rt, ap.name)
        if req.body_error:
            raise _bad_request(f'the body of the request could not be decoded: {req.body_error}')
        patch = req.data
        if media == 'application/json-patch+json':
            if not isinstance(patch, list):
                raise _bad_request('a JSON patch must be a list of operations')
            try:
                doc = jsonpatch.apply_patch(_copy(live), patch)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, IndexError, TypeError) as e:
                raise ApiError(422, 'Invalid', f'the server rejected our request due to an error in our request: {e}')
        else:
            if not isinstance(patch, dict):
                raise _bad_request('a merge patch must be a JSON object')
            if media == 'application/strategic-merge-patch+json':
                patch = _strip_directives(patch)
            doc = _merge_patch(_copy(live), patch)
        if isinstance(doc, dict):
            wanted_rv = (doc.get('metadata') or {}).get('resourceVersion')
            if wanted_rv and wanted_rv != live['metadata'].get('resourceVersion'):
                raise _conflict(rt, ap.name)
        obj = self._update(rt, key, live, doc, manager=self._manager(req),
                           subresource=ap.subresource, dry_run=dry_run)
        return obj, 200

    def _apply(self, req: ApiRequest, rt: ResourceType, dry_run: bool) -> tuple[dict[str, Any], int]:
        """Server-side apply (simplified structured merge, see the module docstring)."""
        ap = req.api
        assert ap is not None and ap.name is not None
        manager = req.params.get('fieldManager')
        if not manager:
            raise ApiError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                           'is required for apply patch', {'kind': 'PatchOptions', 'group': 'meta.k8s.io', 'causes': [
                               {'reason': 'FieldValueRequired', 'message': 'Required value: is required for apply patch',
                                'field': 'fieldManager'}]})
        if len(manager) > 128:
            raise ApiError(422, 'Invalid', 'fieldManager: Too long: may not be more than 128 bytes')
        force = _truthy(req.params.get('force'))
        applied = self._body_dict(req)
        if not applied.get('apiVersion') or not applied.get('kind'):
            raise _bad_request('invalid object type: apiVersion and kind must be set in an applied configuration')
        self._check_type_meta(rt, applied)
        meta = applied.get('metadata') or {}
        if meta.get('name') not in (None, ap.name):
            raise _bad_request(f'the name of the object ({meta.get("name")}) does not match the name on the URL ({ap.name})')
        if rt.namespaced and meta.get('namespace') not in (None, ap.namespace):
            raise _bad_request('the namespace of the provided object does not match the namespace sent on the request')
        scope = self._scope(rt, ap.subresource)
        config = {k: _copy(v) for k, v in applied.items() if k not in ('apiVersion', 'kind', 'metadata')
                  and (scope != 'main' or k != 'status') and (scope != 'status' or k == 'status')}
        tracked_meta = {k: _copy(meta[k]) for k in _TRACKED_METADATA if k in meta}
        if tracked_meta:
            config['metadata'] = tracked_meta
        applied_paths = {p for p, v in _tracked_leaves(config, scope).items() if v is not None}

        key = self._key(rt, ap.namespace, ap.name)
        live = self._live(key)
        if live is None:
            if ap.subresource:
                raise _not_found(rt, ap.name)
            body = _drop_nulls(_copy(applied))
            body.setdefault('metadata', {})['name'] = ap.name
            body['metadata'].pop('resourceVersion', None)
            obj = self._create(rt, ap.namespace, body, manager=manager, operation='Apply', applied=applied_paths,
                               dry_run=dry_run)
            return obj, 201
        wanted_rv = meta.get('resourceVersion')
        if wanted_rv and wanted_rv != live['metadata'].get('resourceVersion'):
            raise _conflict(rt, ap.name)

        entries = _parse_managed(live)
        my_key = (manager, 'Apply', ap.subresource or '')
        mine = next((e for e in entries if e.key == my_key), None)
        others = [e for e in entries if e.key != my_key]
        previous = set(mine.paths) if mine else set()
        result = _copy(live)
        _merge_applied(result, config)

        # Fields this manager applied before and omits now are removed, unless someone else owns them.
        applied_index = _PathIndex(applied_paths)
        others_index = _PathIndex(q for e in others for q in e.paths)
        keep = applied_paths | others_index.paths
        for path in sorted(previous - applied_paths, key=len, reverse=True):
            if applied_index.overlaps(path) or others_index.overlaps(path):
                continue
            _del_path(result, path)
            for i in range(len(path) - 1, 0, -1):  # prune the maps this left empty
                parent = path[:i]
                node = _get_path(result, parent)
                if parent in keep or parent == ('metadata',) or not (isinstance(node, dict) and not node):
                    break
                _del_path(result, parent)

        conflicts = [(entry, path) for entry in others for path in sorted(entry.paths)
                     if applied_index.overlaps(path) and _get_path(result, path) != _get_path(live, path)]
        if conflicts and not force:
            raise self._apply_conflict(rt, ap.name, conflicts)
        for entry, path in conflicts:  # force: the applier takes the ownership
            entry.paths.discard(path)
        if mine is None:
            mine = _Entry(manager, 'Apply', ap.subresource or '', rt.api_version, '', set())
            entries.append(mine)
        mine.paths = set(applied_paths)
        mine.api_version = rt.api_version
        mine.time = _now()
        obj = self._update(rt, key, live, result, manager=manager, subresource=ap.subresource,
                           dry_run=dry_run, entries=entries)
        return obj, 200

    @staticmethod
    def _apply_conflict(rt: ResourceType, name: str, conflicts: list[tuple[_Entry, Path]]) -> ApiError:
        grouped: dict[str, list[Path]] = {}
        causes = []
        for entry, path in conflicts:
            who = f'"{entry.manager}"' + (f' using {entry.api_version}' if entry.operation == 'Update' else '')
            grouped.setdefault(who, []).append(path)
            causes.append({'reason': 'FieldManagerConflict', 'message': f'conflict with {who}', 'field': _fmt_path(path)})
        if len(conflicts) == 1:
            message = f'Apply failed with 1 conflict: {causes[0]["message"]}: {causes[0]["field"]}'
        else:
            message = f'Apply failed with {len(conflicts)} conflicts: ' + '\n'.join(
                f'conflicts with {who}:' + ''.join(f'\n- {_fmt_path(p)}' for p in paths) for who, paths in grouped.items())
        return ApiError(409, 'Conflict', message, _details(rt, name, causes=causes))

    # -- deletes ---------------------------------------------------------------------------------

    def _delete_request(self, req: ApiRequest, rt: ResourceType, dry_run: bool) -> dict[str, Any]:
        ap = req.api
        assert ap is not None and ap.name is not None
        key = self._key(rt, ap.namespace, ap.name)
        live = self._live(key)
        if live is None:
            raise _not_found(rt, ap.name)
        options = req.data if isinstance(req.data, dict) else {}
        preconditions = options.get('preconditions') or {}
        if preconditions.get('uid') and preconditions['uid'] != live['metadata'].get('uid'):
            raise _conflict(rt, ap.name, f'Precondition failed: UID in precondition: {preconditions["uid"]}, '
                                         f'UID in object meta: {live["metadata"].get("uid")}')
        wanted_rv = preconditions.get('resourceVersion')
        if wanted_rv and wanted_rv != live['metadata'].get('resourceVersion'):
            raise _conflict(rt, ap.name, f'Precondition failed: ResourceVersion in precondition: {wanted_rv}, '
                                         f'ResourceVersion in object meta: {live["metadata"].get("resourceVersion")}')
        if dry_run:
            return live
        return self._delete(rt, key, live)

    def _delete_collection(self, req: ApiRequest, rt: ResourceType, dry_run: bool) -> dict[str, Any]:
        deleted = []
        for key, obj in self._select(rt, self._selection(req, rt)):
            deleted.append(obj if dry_run else self._delete(rt, key, obj))
        return {'apiVersion': rt.api_version, 'kind': f'{rt.kind}List', 'metadata': {'resourceVersion': str(self._rv)},
                'items': [self._render(obj, rt) for obj in deleted]}

    def _delete(self, rt: ResourceType, key: Any, live: dict[str, Any]) -> dict[str, Any]:
        if rt.gr == _NS_GR:
            return self._delete_namespace(key, live)
        meta = live['metadata']
        if meta.get('finalizers'):
            if meta.get('deletionTimestamp'):
                return live
            marked = {**live, 'metadata': {**meta, 'deletionTimestamp': _now(), 'deletionGracePeriodSeconds': 0}}
            return self._commit(key, marked, 'MODIFIED', old=live)
        return self._finish_delete(rt, key, live)

    def _finish_delete(self, rt: ResourceType, key: Any, obj: dict[str, Any]) -> dict[str, Any]:
        final = self._commit(key, obj, 'DELETED')
        if rt.gr == _CRD_GR:  # the custom resources go with their definition
            spec = obj.get('spec') or {}
            group, plural = spec.get('group'), (spec.get('names') or {}).get('plural')
            for cr_key, stored in list(self._objects.items()):
                if cr_key[0].group == group and cr_key[0].plural == plural and not stored.deleted:
                    self._commit(cr_key, stored.last.raw, 'DELETED')
        if key[1] is not None:
            self._maybe_finish_namespace(key[1])
        return final

    def _delete_namespace(self, key: Any, live: dict[str, Any]) -> dict[str, Any]:
        namespace = key[2]
        current = live
        if not live['metadata'].get('deletionTimestamp'):
            marked = {**live, 'metadata': {**live['metadata'], 'deletionTimestamp': _now(), 'deletionGracePeriodSeconds': 0},
                      'status': {**(live.get('status') or {}), 'phase': 'Terminating'}}
            current = self._commit(key, marked, 'MODIFIED', old=live)
        for obj_key, stored in list(self._objects.items()):
            if obj_key[1] == namespace and not stored.deleted:
                obj = stored.last.raw
                meta = obj['metadata']
                if not meta.get('finalizers'):
                    self._commit(obj_key, obj, 'DELETED')
                elif not meta.get('deletionTimestamp'):
                    self._commit(obj_key, {**obj, 'metadata': {**meta, 'deletionTimestamp': _now(),
                                                               'deletionGracePeriodSeconds': 0}}, 'MODIFIED', old=obj)
        return self._maybe_finish_namespace(namespace) or current

    def _maybe_finish_namespace(self, namespace: str) -> dict[str, Any] | None:
        ns_rt = self._rt(*_NS_GR)
        ns_key = self._key(ns_rt, None, namespace)
        ns_obj = self._live(ns_key)
        if ns_obj is None or not ns_obj['metadata'].get('deletionTimestamp'):
            return None
        if any(k[1] == namespace and not stored.deleted for k, stored in list(self._objects.items())):
            return None
        return self._commit(ns_key, ns_obj, 'DELETED')

    # -- watch -----------------------------------------------------------------------------------

    async def _serve_watch(self, req: ApiRequest, rt: ResourceType) -> aiohttp.web.StreamResponse:
        matches = self._selection(req, rt)
        try:
            timeout = float(req.params.get('timeoutSeconds') or self.max_watch_seconds)
        except ValueError:
            raise _bad_request('timeoutSeconds must be a number')
        timeout = max(0.0, min(timeout, self.max_watch_seconds))
        since = req.params.get('resourceVersion') or ''
        backlog: list[tuple[str, dict[str, Any]]] = []
        expired: str | None = None
        if since in ('', '0'):
            backlog = [('ADDED', obj) for _, obj in self._select(rt, matches)]
        else:
            try:
                since_rv = int(since)
            except ValueError:
                raise _bad_request(f'invalid resource version: {since!r}')
            if since_rv < self._events_floor or (self._events_floor and since_rv == self._events_floor):
                expired = f'too old resource version: {since_rv} ({self._events_floor + 1})'  # from before reset()
            else:
                for event in self._events:
                    if event.rv > since_rv and (view := self._watch_view(event, rt, matches)):
                        backlog.append(view)
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self._watchers.add(queue)  # in the same synchronous step as the backlog snapshot: no gaps
        response = aiohttp.web.StreamResponse(status=200, headers={'Content-Type': 'application/json'})
        assert req._raw_request is not None
        try:
            await response.prepare(req._raw_request)
            if req.record is not None:
                req.record.status = 200
            if expired:
                await self._write_event(response, 'ERROR', ApiError(410, 'Expired', expired).status())
                await response.write_eof()
                return response
            for kind, obj in backlog:
                await self._write_event(response, kind, self._render(obj, rt))
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if event is None:  # stop/reset
                    break
                if view := self._watch_view(event, rt, matches):
                    await self._write_event(response, view[0], self._render(view[1], rt))
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            self._watchers.discard(queue)
        return response

    @staticmethod
    def _watch_view(event: WatchEvent, rt: ResourceType, matches: Callable[[Mapping[str, Any]], bool],
                    ) -> tuple[str, dict[str, Any]] | None:
        if (event.group, event.plural) != rt.gr:
            return None
        if event.type == 'MODIFIED':
            now, before = matches(event.obj), event.old is not None and matches(event.old)
            if now:
                return ('MODIFIED' if before else 'ADDED', event.obj)
            return ('DELETED', event.obj) if before else None
        return (event.type, event.obj) if matches(event.obj) else None

    @staticmethod
    async def _write_event(response: aiohttp.web.StreamResponse, kind: str, obj: Mapping[str, Any]) -> None:
        await response.write(json.dumps({'type': kind, 'object': obj}).encode() + b'\n')

    # -- helpers for tests (sync, on the loop thread) ----------------------------------------------

    def resolve(self, api_version: str, kind: str) -> ResourceType:
        rt = self.catalogue.by_kind(api_version, kind)
        if rt is None:
            raise LookupError(f'the emulator does not serve {kind} in {api_version}')
        return rt

    def _object_key(self, rt: ResourceType, name: str, namespace: str | None) -> Any:
        if rt.namespaced and not namespace:
            raise ValueError(f'{rt.kind} is namespaced: a namespace is required')
        return self._key(rt, namespace, name)

    def get_object(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        rt = self.resolve(api_version, kind)
        obj = self._live(self._object_key(rt, name, namespace))
        return None if obj is None else _copy(self._render(obj, rt))

    def list_objects(self, api_version: str | None = None, kind: str | None = None, namespace: str | None = None,
                     label_selector: str | None = None) -> list[dict[str, Any]]:
        labels = parse_label_selector(label_selector)
        if kind is not None:
            if api_version is None:
                raise ValueError('api_version is required with kind')
            rt = self.resolve(api_version, kind)
            found = self._select(rt, lambda o: (namespace is None or o['metadata'].get('namespace') == namespace)
                                 and match_labels(labels, o['metadata'].get('labels')))
            return [_copy(self._render(obj, rt)) for _, obj in found]
        group = None if api_version is None else api_version.rpartition('/')[0]
        result = []
        for key, stored in list(self._objects.items()):
            if stored.deleted or (group is not None and key[0].group != group):
                continue
            obj = stored.last.raw
            if (namespace is None or key[1] == namespace) and match_labels(labels, obj['metadata'].get('labels')):
                result.append(_copy(obj))
        return result

    def object_history(self, api_version: str, kind: str, name: str, namespace: str | None = None,
                       ) -> list[dict[str, Any] | None]:
        rt = self.resolve(api_version, kind)
        key = self._object_key(rt, name, namespace)
        if key not in self._objects:
            return []
        return [None if version is None else _copy(self._render(version.raw, rt))
                for version in self._objects[key].history]

    def create_object(self, obj: Mapping[str, Any], manager: str = SERVER_MANAGER) -> dict[str, Any]:
        rt = self.resolve(obj.get('apiVersion', ''), obj.get('kind', ''))
        return _copy(self._render(self._create(rt, None, obj, manager=manager), rt))

    def delete_object(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        rt = self.resolve(api_version, kind)
        key = self._object_key(rt, name, namespace)
        live = self._live(key)
        return None if live is None else _copy(self._render(self._delete(rt, key, live), rt))

    def set_status(self, api_version: str, kind: str, name: str, namespace: str | None, status: Any,
                   merge: bool = False, manager: str = SERVER_MANAGER) -> dict[str, Any]:
        rt = self.resolve(api_version, kind)
        key = self._object_key(rt, name, namespace)
        live = self._live(key)
        if live is None:
            raise LookupError(f'{rt.group_resource} "{name}" not found')
        candidate = _copy(live)
        candidate['status'] = _merge_patch(live.get('status'), _copy(status)) if merge else _copy(status)
        obj = self._update(rt, key, live, candidate, manager=manager,
                           subresource='status' if rt.has_status else None, dry_run=False)
        return _copy(self._render(obj, rt))


# ---------------------------------------------------------------------------------------------
# The threaded server & the test-facing API
# ---------------------------------------------------------------------------------------------

def default_discovery_cache_path(url: str) -> pathlib.Path:
    """Where kubernetes.dynamic.DynamicClient caches discovery for a host when no cache_file is given."""
    digest = hashlib.md5(url.encode('utf-8'), usedforsecurity=False).hexdigest()
    return pathlib.Path(tempfile.gettempdir()) / f'osrcp-{digest}.json'


class ObjectsView:
    """Direct access to the emulator's objects (no HTTP, not in the request log)."""

    def __init__(self, emulator: KubeEmulator) -> None:
        self._emulator = emulator

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The current object (a copy, served at api_version) or None."""
        return self._emulator._call(self._emulator.handler.get_object, api_version, kind, name, namespace)

    def list(self, api_version: str | None = None, kind: str | None = None, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        """Current objects of a kind (sorted by namespace/name), or of a group (kind=None), or all."""
        return self._emulator._call(self._emulator.handler.list_objects, api_version, kind, namespace, label_selector)

    def history(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> list[dict[str, Any] | None]:
        """Every stored version of the object, None marking deletions (kmock's object history)."""
        return self._emulator._call(self._emulator.handler.object_history, api_version, kind, name, namespace)

    def create(self, obj: Mapping[str, Any], manager: str = SERVER_MANAGER) -> dict[str, Any]:
        """Seed an object (same validation as POST; emits ADDED)."""
        return self._emulator._call(self._emulator.handler.create_object, obj, manager)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self._emulator._call(self._emulator.handler.delete_object, api_version, kind, name, namespace)


class KubeEmulator:
    """
    The emulated API server, listening on 127.0.0.1 (a free port) in a background thread.

    Use as a context manager (or ``start()``/``stop()``). All helpers are thread-safe and
    bounded by ``call_timeout``.
    """

    context = CONTEXT_NAME

    def __init__(self, crd_dirs: Iterable[str | os.PathLike[str]] = (), *, host: str = '127.0.0.1',
                 namespaces: Iterable[str] = DEFAULT_NAMESPACES, require_auth: bool = True,
                 max_watch_seconds: float = 60.0, call_timeout: float = 10.0, latency: float = 0.0) -> None:
        self.crd_dirs = tuple(pathlib.Path(d) for d in crd_dirs)
        self.latency = latency
        self.host = host
        self.namespaces = tuple(namespaces)
        self.token: str | None = f'kube-emulator-{secrets.token_hex(16)}' if require_auth else None
        self.max_watch_seconds = max_watch_seconds
        self.call_timeout = call_timeout
        self.objects = ObjectsView(self)
        self.port = 0
        self.url = ''
        self.kubeconfig_path = pathlib.Path()
        self._handler: KubeApiHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: aiohttp.web.ServerRunner | None = None
        self._tmpdir: pathlib.Path | None = None
        self._clients: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> KubeEmulator:  # noqa: PYI034
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> KubeEmulator:
        if self._thread is not None:
            raise RuntimeError('the emulator is already started')
        crds = load_crds(*self.crd_dirs)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self.url = f'http://{self.host}:{self.port}'
        self._tmpdir = pathlib.Path(tempfile.mkdtemp(prefix='kube-emulator-'))
        self._loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(sock, crds, ready),
                                        name=f'kube-emulator-{self.port}', daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=self.call_timeout)
        except BaseException:
            self.stop()
            raise
        self.kubeconfig_path = self._write_kubeconfig()
        self._forget_discovery_cache()
        return self

    def _run(self, sock: socket.socket, crds: Sequence[Mapping[str, Any]], ready: concurrent.futures.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._astart(sock, crds))
        except BaseException as e:  # noqa: BLE001 -- handed over to the starting thread
            sock.close()
            ready.set_exception(e)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.wait_for(
                    asyncio.gather(*pending, return_exceptions=True), timeout=self.call_timeout))
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _astart(self, sock: socket.socket, crds: Sequence[Mapping[str, Any]]) -> None:
        self._handler = KubeApiHandler(crds=crds, token=self.token, namespaces=self.namespaces,
                                       max_watch_seconds=self.max_watch_seconds,
                                       server_address=f'{self.host}:{self.port}')
        self._handler.latency = self.latency
        await self._handler.__aenter__()
        server = aiohttp.web.Server(self._handler, handler_cancellation=True, access_log=None)
        self._runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        await aiohttp.web.SockSite(self._runner, sock).start()

    async def _astop(self) -> None:
        if self._handler is not None:
            self._handler.stop_watches()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._handler is not None:
            await self._handler.__aexit__(None, None, None)

    def stop(self) -> None:
        """Stop the server (open watches end), close the clients made by the helpers, remove the files."""
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=self.call_timeout)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=self.call_timeout)
        self._thread = None
        self._loop = None
        if self.url:
            self._forget_discovery_cache()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn on the server's loop (where all the state lives) and return its result."""
        if self._loop is None or not self.running:
            raise RuntimeError('the emulator is not running')
        if threading.current_thread() is self._thread:
            return fn(*args)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 -- re-raised in the calling thread
                future.set_exception(e)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=self.call_timeout)

    def _write_kubeconfig(self) -> pathlib.Path:
        assert self._tmpdir is not None
        user: dict[str, Any] = {'token': self.token} if self.token else {}
        config = {
            'apiVersion': 'v1', 'kind': 'Config', 'preferences': {},
            'clusters': [{'name': CONTEXT_NAME, 'cluster': {'server': self.url}}],
            'users': [{'name': CONTEXT_NAME, 'user': user}],
            'contexts': [{'name': CONTEXT_NAME, 'context': {'cluster': CONTEXT_NAME, 'user': CONTEXT_NAME,
                                                             'namespace': 'default'}}],
            'current-context': CONTEXT_NAME,
        }
        path = self._tmpdir / 'kubeconfig'
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            yaml.safe_dump(config, f, sort_keys=False)
        os.chmod(path, 0o600)
        return path

    def _forget_discovery_cache(self) -> None:
        """DynamicClient caches discovery per URL in the temp dir: a stale one (port reuse, reset) would lie."""
        with contextlib.suppress(OSError):
            default_discovery_cache_path(self.url).unlink()

    # -- test-facing API ---------------------------------------------------------------------------

    @property
    def handler(self) -> KubeApiHandler:
        """The kmock handler (kmock DSL, ``handler.objects``, ``handler.resources``). Lives on the server loop."""
        if self._handler is None:
            raise RuntimeError('the emulator is not running')
        return self._handler

    @property
    def requests(self) -> RequestLog:
        return self.handler.request_log

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of emulator bugs (answered as 500): the fixture fails the test if any."""
        return list(self.handler.internal_errors)

    def reset(self) -> None:
        """Back to the initial state: seeds only, no requests, faults, reactions; open watches end."""
        self._call(self.handler.reset_state)
        self._forget_discovery_cache()

    def set_status(self, api_version: str, kind: str, name: str, namespace: str | None, status: Any, *,
                   merge: bool = False) -> dict[str, Any]:
        """
        Replace (or merge-patch, with merge=True) the object's status as a controller would, through the
        status subresource when the kind has one: new resourceVersion, MODIFIED event (unless unchanged).
        """
        return self._call(self.handler.set_status, api_version, kind, name, namespace, status, merge)

    def when_exists(self, api_version: str, kind: str, name: str, namespace: str | None, then: Callable[[], Any], *,
                    delay: float = 0.2, timeout: float = 10.0) -> threading.Thread:
        """
        Run ``then()`` in a thread ``delay`` seconds after the object exists, as a controller reacting to it
        would (e.g. ``then=lambda: emulator.set_status(...)``); give up after ``timeout`` seconds. A kind not
        served yet (its CRD still to come) counts as absent.
        """
        def exists() -> bool:
            try:
                return self.objects.get(api_version, kind, name, namespace) is not None
            except LookupError:
                return False

        def run() -> None:
            deadline = time.monotonic() + timeout
            while not exists():
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            time.sleep(delay)
            then()

        thread = threading.Thread(target=run, name=f'kube-emulator-{self.port}-when-{kind}', daemon=True)
        thread.start()
        return thread

    def fail_next(self, n: int = 1, status: int = 500, retry_after: float | None = None, *,
                  method: str | None = None, path_contains: str | None = None) -> None:
        """
        Answer the next n matching requests with a Status error instead of serving them (nothing is applied).
        With retry_after, a Retry-After header is sent: note urllib3 then retries idempotent requests
        (GET/PUT/DELETE) answered 429/503 by itself.
        """
        if not 400 <= status <= 599:
            raise ValueError(f'status must be an HTTP error code, got {status}')
        self.handler.faults.add(FaultRule('fail', n, status, retry_after, method, path_contains))

    def drop_next(self, n: int = 1, *, method: str | None = None, path_contains: str | None = None) -> None:
        """
        Close the connection of the next n matching requests without any response (nothing is applied).
        Note: urllib3 retries idempotent requests (GET/PUT/DELETE) on such errors by itself.
        """
        self.handler.faults.add(FaultRule('drop', n, 0, None, method, path_contains))

    def api_client(self) -> Any:
        """A kubernetes.client.ApiClient from the kubeconfig (closed when the emulator stops)."""
        import kubernetes.config
        client = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig_path), context=CONTEXT_NAME)
        self._clients.append(client)
        return client

    def dynamic_client(self) -> Any:
        """A kubernetes.dynamic.DynamicClient with its own discovery cache file (removed at stop)."""
        import kubernetes.dynamic
        assert self._tmpdir is not None
        cache = self._tmpdir / f'discovery-{len(self._clients)}-{secrets.token_hex(4)}.json'
        return kubernetes.dynamic.DynamicClient(self.api_client(), cache_file=str(cache))

    def __repr__(self) -> str:
        return f'<KubeEmulator {self.url or "(stopped)"}>'


# ---------------------------------------------------------------------------------------------
# pytest
# ---------------------------------------------------------------------------------------------

def kube_emulator_fixture(*, crd_dirs: Iterable[str | os.PathLike[str]] | None = None, scope: str = 'function',
                          name: str = 'kube_emulator', **options: Any) -> Any:
    """
    Make a pytest fixture yielding a started :class:`KubeEmulator` (stopped at teardown; the test fails
    at teardown if the emulator hit an internal error). ``crd_dirs`` defaults to ``../shared/crds``.

    For one emulator per session, reset between tests::

        _session = kube_emulator_fixture(scope='session', name='kube_emulator_session')

        @pytest.fixture
        def kube_emulator(kube_emulator_session):
            kube_emulator_session.reset()
            yield kube_emulator_session
    """
    @pytest.fixture(scope=scope, name=name)  # type: ignore[misc]
    def _kube_emulator() -> Iterator[KubeEmulator]:
        from dokaseca.testing import shared_dir

        # Skips with the reason on a user's machine without ../shared; fails under CI=true.
        dirs = (shared_dir(REPO_ROOT) / 'crds',) if crd_dirs is None else tuple(crd_dirs)
        with KubeEmulator(dirs, **options) as emulator:
            yield emulator
            errors = emulator.internal_errors
            if errors:
                pytest.fail('kube_emulator internal error(s):\n' + '\n'.join(errors), pytrace=False)

    return _kube_emulator


kube_emulator = kube_emulator_fixture()
