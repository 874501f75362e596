"""The objects that bootstrap GitOps on a cluster, GitOps Bridge style, as plain dicts.

Pure rendering: no network, no Kubernetes client, no clock; the same inputs
give the same dicts (and byte-identical YAML through ``dump_all``). Applying
them, and waiting until they are synced, is the bootstrap step's job.

Argo CD (namespace ``argocd``):

- :func:`argocd_cluster_secret`: the GitOps Bridge cluster Secret. Labels are
  the cluster's GitOps metadata labels (switches for ApplicationSet
  selectors) plus ``argocd.argoproj.io/secret-type: cluster``; annotations are
  the metadata annotations (values for templates). ``stringData`` holds
  ``name``, ``server`` and, only when given, ``config`` as JSON. Credentials
  live in ``config`` only; a credential that also shows up in a label or
  annotation is refused, because anyone who may list Secrets' metadata reads
  those.
- :func:`argocd_project`, :func:`argocd_root_application`,
  :func:`argocd_workloads_application`: the AppProject and the two bootstrap
  "app of apps" Applications, on a standalone cluster or on the hub. A spoke
  of a hub runs no Argo CD, so asking for them is an error.
- :func:`capi_project`, :func:`capi_applicationset`,
  :func:`gitops_repository_layout`: "fully GitOps" mode, where the hub's
  Argo CD applies the Cluster API objects from a repository laid out like
  ``dokaseca render -o``.

Flux (namespace ``flux-system``): :func:`flux_cluster_metadata_configmap`
(the GitOps Bridge metadata as substitution variables, Flux's equivalent of
the cluster Secret), :func:`flux_git_repository` and
:func:`flux_kustomization`.

Choices:

- Paths: ``base_path`` and ``path`` are joined with exactly one ``/``,
  whatever slashes either side carries (``argocd`` + ``bootstrap`` and
  ``argocd/`` + ``/bootstrap`` both give ``argocd/bootstrap``); empty and
  ``.`` segments are dropped and ``..`` is refused. GitOps Bridge
  concatenates the two annotations (the caller must end the base path with
  ``/``) while DoKa Seca inserts ``/``; normalising removes the guesswork for
  the objects rendered here. The ``*_basepath`` annotations are passed on
  as the user wrote them, for the addon templates that read them.
- The root Applications are Directory applications, recursive, excluding
  ``exclude/*`` (the GitOps Bridge addons-repository convention: one
  ApplicationSet per addon in nested folders, parked ones in ``exclude/``).
  A Helm chart or a Kustomize overlay at the bootstrap path is therefore not
  supported by the root Application.
- Applications target the in-cluster API by ``server``, not by the name
  ``in-cluster``: the cluster's own Secret renames that entry to the cluster
  name (what the addon templates use for ``{{name}}``).
- Sync: automated with prune and selfHeal; retries are unlimited with an
  exponential backoff capped at 3 minutes, because a bootstrap converges
  only once the CRDs the addons bring exist, and a sync that gave up would
  wait for the next commit. ``CreateNamespace=true`` and
  ``ServerSideApply=true`` (large addon CRDs do not fit the client-side
  last-applied annotation).
- No ``resources-finalizer`` on any Application, and the CAPI ApplicationSet
  preserves resources on deletion: deleting a bootstrap Application, or a
  cluster folder, leaves the addons or the workload cluster running. Deleting
  a cluster stays an explicit ``kubectl delete cluster``.
- Fully GitOps mode: one Application ``<fleet>-<cluster>`` per cluster
  folder, in an AppProject of its own that admits only the fleet repository,
  the management cluster, and the cluster-scoped kinds CAPI manifests hold
  (Namespace, ``infrastructure.cluster.x-k8s.io`` identities). The
  destination namespace is read back from the folder names, following the
  fleet's ``management.namespaces`` and prefix; ``CreateNamespace=true``
  creates it, so ``namespace.yaml`` is there for parity with
  ``dokaseca render -o`` and for a plain ``kubectl apply -R``. ``PruneLast``
  removes superseded content-named templates only after the rest has
  synced; Argo CD does not prune objects that carry CAPI's ownerReferences,
  so old templates may stay behind.
- The AppProject allows every cluster-scoped kind (``*``/``*``): addons bring
  CRDs, ClusterRoles, webhooks, StorageClasses, and listing them would break
  with every new addon. What limits it is ``sourceRepos`` (only the fleet's
  addons and workloads repositories) and ``destinations`` (the in-cluster API
  on a standalone cluster, any registered cluster on the hub).
- Flux revisions: a 40-hex SHA is a ``commit``, ``refs/...`` a ``name``,
  ``vX.Y.Z`` or ``X.Y.Z`` (with an optional pre-release or build suffix) a
  ``tag``, anything else a ``branch``. ``HEAD`` (the fleet file's default,
  "the default branch" for Argo CD) becomes ``branch: main``: Flux has no
  "default branch" reference (an empty ref means ``master``, and a ``name:
  HEAD`` resolves to a symbolic reference without a commit).
- Flux substitution variables must match ``^[_a-zA-Z][_a-zA-Z0-9]*$``: keys
  that do (``enable_cert_manager``, ``addons_repo_url``) are unchanged, every
  other character becomes ``_`` (``dokaseca.io/team-a`` ->
  ``dokaseca_io_team_a``) and a leading digit gets a ``_`` prefix. Labels and
  annotations share one namespace of variables; a key set twice to different
  values is an error rather than a silent pick.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dokaseca.builtin.standard_labels import ENVIRONMENT_LABEL, FLEET_LABEL
from dokaseca.manifests import MANAGED_BY_LABEL, dump_all, k8s_object
from dokaseca.models import ClusterSpec, GitOpsMetadata, GitOpsSpec, RepoRef
from dokaseca.render import namespace_objects

ARGOCD_NAMESPACE = "argocd"
FLUX_NAMESPACE = "flux-system"
ARGOCD_API_VERSION = "argoproj.io/v1alpha1"
FLUX_SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
FLUX_KUSTOMIZE_API_VERSION = "kustomize.toolkit.fluxcd.io/v1"

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
CLUSTER_SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"

ADDONS = "addons"
WORKLOADS = "workloads"
ROOT_APPLICATION_NAMES = {ADDONS: "addons", WORKLOADS: "workloads"}
FLUX_OBJECT_NAMES = {ADDONS: "addons", WORKLOADS: "workloads"}
CLUSTER_METADATA_CONFIGMAP = "cluster-metadata"

# Directory generator layout of "fully GitOps" mode, as `dokaseca render -o` writes it.
CLUSTERS_FOLDER = "clusters"
BOOTSTRAP_FOLDER = "bootstrap"

# Argo CD only reads credentials from these keys of a cluster's config.
_CREDENTIAL_KEYS = frozenset({"bearerToken", "password", "keyData"})

_COMMIT_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
_RELEASE_TAG = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
_SUBSTITUTION_VARIABLE = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_NOT_VARIABLE_CHARACTER = re.compile(r"[^_a-zA-Z0-9]")

_RETRY = {"limit": -1, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}
_BOOTSTRAP_SYNC_OPTIONS = ("CreateNamespace=true", "ServerSideApply=true")
# Content-named CAPI templates are replaced, not edited: prune the old ones
# only once the MachineDeployments have moved to the new ones.
_CAPI_SYNC_OPTIONS = ("CreateNamespace=true", "ServerSideApply=true", "PruneLast=true")


# -------------------------------------------------------------------------
# Shared helpers
# -------------------------------------------------------------------------


def join_repo_path(base_path: str, path: str) -> str:
    """``base_path`` and ``path`` joined by one ``/``; ``""`` is the repository root."""
    segments = [segment for part in (base_path, path) for segment in part.split("/") if segment not in ("", ".")]
    if ".." in segments:
        raise ValueError(f"repository path {base_path!r} + {path!r} must not climb out of the repository with '..'")
    return "/".join(segments)


def namespace_object(name: str) -> dict[str, Any]:
    return k8s_object("v1", "Namespace", name, labels={MANAGED_BY_LABEL: "dokaseca"})


def is_hub(cluster: ClusterSpec) -> bool:
    gitops = cluster.gitops
    return gitops is not None and gitops.topology == "hub-spoke" and gitops.hub == cluster.name


def is_spoke(cluster: ClusterSpec) -> bool:
    gitops = cluster.gitops
    return gitops is not None and gitops.topology == "hub-spoke" and gitops.hub != cluster.name


def _gitops(cluster: ClusterSpec, engine: str) -> GitOpsSpec:
    gitops = cluster.gitops
    if gitops is None:
        raise ValueError(f"cluster {cluster.name!r}: the fleet file has no gitops: section")
    if gitops.engine != engine:
        raise ValueError(f"cluster {cluster.name!r} uses GitOps engine {gitops.engine!r}, not {engine!r}")
    return gitops


def _repo(cluster: ClusterSpec, engine: str, which: str) -> RepoRef | None:
    if which not in (ADDONS, WORKLOADS):
        raise ValueError(f"repository must be {ADDONS!r} or {WORKLOADS!r}, not {which!r}")
    return getattr(_gitops(cluster, engine), which)


def _required_repo(cluster: ClusterSpec, engine: str, which: str) -> RepoRef:
    repo = _repo(cluster, engine, which)
    if repo is None:
        raise ValueError(f"cluster {cluster.name!r}: gitops.{which} is not set")
    return repo


def _runs_argocd(cluster: ClusterSpec) -> GitOpsSpec:
    gitops = _gitops(cluster, "argocd")
    if is_spoke(cluster):
        raise ValueError(
            f"cluster {cluster.name!r} is a spoke of hub {gitops.hub!r}: it runs no Argo CD;"
            " render the project and root applications for the hub, and a cluster Secret for the spoke"
        )
    return gitops


def _ownership_labels(fleet: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: "dokaseca", FLEET_LABEL: fleet}


# -------------------------------------------------------------------------
# Argo CD
# -------------------------------------------------------------------------


def bearer_token_config(bearer_token: str, ca_data: str) -> dict[str, Any]:
    """The ``config`` of a spoke registered on the hub with a ServiceAccount token.

    ``ca_data`` is the base64-encoded PEM of the spoke API server's CA.
    """
    return {"bearerToken": bearer_token, "tlsClientConfig": {"caData": ca_data}}


def argocd_cluster_secret(
    cluster: ClusterSpec,
    metadata: GitOpsMetadata,
    *,
    server: str,
    config: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The GitOps Bridge cluster Secret that registers ``cluster`` with Argo CD.

    A cluster registering itself passes ``server=IN_CLUSTER_SERVER`` and no
    ``config`` (Argo CD then uses its own ServiceAccount); a spoke on the hub
    passes its API URL and e.g. :func:`bearer_token_config`. ``name`` is the
    Secret's name, the cluster name by default; the Argo CD cluster name
    (``stringData.name``) is always the cluster name, which the addon
    ApplicationSets use in ``{{name}}``.
    """
    _gitops(cluster, "argocd")
    labels = {**_ownership_labels(cluster.fleet), **metadata.labels, CLUSTER_SECRET_TYPE_LABEL: "cluster"}
    labels = dict(sorted(labels.items()))
    annotations = dict(sorted(metadata.annotations.items()))
    secret_name = name or cluster.name
    string_data = {"name": cluster.name, "server": server}
    if config is not None:
        _refuse_leaked_credentials(config, secret_name, labels, annotations)
        string_data["config"] = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return k8s_object(
        "v1",
        "Secret",
        secret_name,
        ARGOCD_NAMESPACE,
        labels=labels,
        annotations=annotations,
        type="Opaque",
        stringData=string_data,
    )


def _refuse_leaked_credentials(
    config: Mapping[str, Any], secret_name: str, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> None:
    credentials = [value for value in _credential_values(config) if value]
    # Say where it leaked, never what: the message may end up in a log.
    if any(credential in secret_name for credential in credentials):
        raise ValueError("a credential from the cluster config appears in the Secret's name; credentials belong in config only")
    for where, entries in (("label", labels), ("annotation", annotations)):
        for key, value in entries.items():
            if any(credential in key for credential in credentials):
                raise ValueError(f"a credential from the cluster config appears in a {where} key; credentials belong in config only")
            if any(credential in value for credential in credentials):
                raise ValueError(f"a credential from the cluster config appears in {where} {key!r}; credentials belong in config only")


def _credential_values(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in _CREDENTIAL_KEYS and isinstance(value, str):
                yield value
            else:
                yield from _credential_values(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _credential_values(item)


def argocd_project(cluster: ClusterSpec) -> dict[str, Any]:
    """The AppProject of the bootstrap Applications, named after the fleet."""
    gitops = _runs_argocd(cluster)
    repos = sorted({repo.url for repo in (gitops.addons, gitops.workloads) if repo is not None})
    if not repos:
        raise ValueError(f"cluster {cluster.name!r}: set gitops.addons (and optionally gitops.workloads)")
    destination_server = "*" if is_hub(cluster) else IN_CLUSTER_SERVER
    where = "every registered cluster" if is_hub(cluster) else "this cluster"
    return k8s_object(
        ARGOCD_API_VERSION,
        "AppProject",
        cluster.fleet,
        ARGOCD_NAMESPACE,
        labels=_ownership_labels(cluster.fleet),
        spec={
            "description": f"Platform addons and workloads of fleet {cluster.fleet}, deployed to {where}",
            "sourceRepos": repos,
            "destinations": [{"server": destination_server, "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    )


def argocd_root_application(cluster: ClusterSpec) -> dict[str, Any]:
    """The "app of apps" that syncs the addons repository's bootstrap folder into ``argocd``."""
    _runs_argocd(cluster)
    return _bootstrap_application(cluster, ADDONS, _required_repo(cluster, "argocd", ADDONS))


def argocd_workloads_application(cluster: ClusterSpec) -> dict[str, Any] | None:
    """The workloads "app of apps", or None when the fleet sets no workloads repository."""
    _runs_argocd(cluster)
    repo = _repo(cluster, "argocd", WORKLOADS)
    return None if repo is None else _bootstrap_application(cluster, WORKLOADS, repo)


def _bootstrap_application(cluster: ClusterSpec, which: str, repo: RepoRef) -> dict[str, Any]:
    return k8s_object(
        ARGOCD_API_VERSION,
        "Application",
        ROOT_APPLICATION_NAMES[which],
        ARGOCD_NAMESPACE,
        labels=_ownership_labels(cluster.fleet),
        spec={
            "project": cluster.fleet,
            "source": {
                "repoURL": repo.url,
                "targetRevision": repo.revision,
                "path": join_repo_path(repo.base_path, repo.path) or ".",
                "directory": {"recurse": True, "exclude": "exclude/*"},
            },
            "destination": {"server": IN_CLUSTER_SERVER, "namespace": ARGOCD_NAMESPACE},
            "syncPolicy": _sync_policy(_BOOTSTRAP_SYNC_OPTIONS),
        },
    )


def _sync_policy(sync_options: Sequence[str]) -> dict[str, Any]:
    return {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": list(sync_options),
        "retry": copy.deepcopy(_RETRY),  # callers may edit the dict they get
    }


def argocd_bootstrap_objects(cluster: ClusterSpec, metadata: GitOpsMetadata) -> list[dict[str, Any]]:
    """What a standalone cluster or the hub needs once Argo CD is installed, in apply order:
    the namespace, its own in-cluster Secret, the project and the bootstrap Applications."""
    objects = [
        namespace_object(ARGOCD_NAMESPACE),
        argocd_cluster_secret(cluster, metadata, server=IN_CLUSTER_SERVER),
        argocd_project(cluster),
        argocd_root_application(cluster),
    ]
    workloads = argocd_workloads_application(cluster)
    if workloads is not None:
        objects.append(workloads)
    return objects


# -------------------------------------------------------------------------
# Fully GitOps: the hub's Argo CD applies the Cluster API objects
# -------------------------------------------------------------------------


def capi_project_name(fleet_name: str) -> str:
    return f"{fleet_name}-clusters"


def capi_project(fleet_name: str, repo_url: str) -> dict[str, Any]:
    """The AppProject of the per-cluster CAPI Applications: one repository, the
    management cluster itself, and only the cluster-scoped kinds CAPI manifests
    contain (namespaces, and identities such as ``AWSClusterControllerIdentity``)."""
    return k8s_object(
        ARGOCD_API_VERSION,
        "AppProject",
        capi_project_name(fleet_name),
        ARGOCD_NAMESPACE,
        labels=_ownership_labels(fleet_name),
        spec={
            "description": f"Cluster API manifests of fleet {fleet_name}, applied to the management cluster",
            "sourceRepos": [repo_url],
            "destinations": [{"server": IN_CLUSTER_SERVER, "namespace": "*"}],
            "clusterResourceWhitelist": [
                {"group": "", "kind": "Namespace"},
                {"group": "infrastructure.cluster.x-k8s.io", "kind": "*"},
            ],
        },
    )


def capi_applicationset(
    fleet_name: str,
    repo_url: str,
    revision: str,
    base_path: str,
    *,
    namespaces: str = "per-environment",
    namespace_prefix: str = "",
) -> dict[str, Any]:
    """One Application per ``<base_path>/clusters/<env>/<cluster>`` folder.

    The destination namespace comes from the folder, the way the fleet file's
    ``management.namespaces`` and ``namespacePrefix`` made it: the environment
    folder (``per-environment``) or the cluster folder (``per-cluster``).
    Removing a folder deletes its Application but not the cluster.
    """
    if namespaces not in ("per-environment", "per-cluster"):
        raise ValueError(f"namespaces must be 'per-environment' or 'per-cluster', not {namespaces!r}")
    clusters_path = join_repo_path(base_path, CLUSTERS_FOLDER)
    environment_segment = len(clusters_path.split("/"))
    environment = f"{{{{ index .path.segments {environment_segment} }}}}"
    cluster_name = "{{ .path.basename }}"
    namespace = namespace_prefix + (environment if namespaces == "per-environment" else cluster_name)
    return k8s_object(
        ARGOCD_API_VERSION,
        "ApplicationSet",
        capi_project_name(fleet_name),
        ARGOCD_NAMESPACE,
        labels=_ownership_labels(fleet_name),
        spec={
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {"repoURL": repo_url, "revision": revision, "directories": [{"path": f"{clusters_path}/*/*"}]}}],
            "syncPolicy": {"preserveResourcesOnDeletion": True},
            "template": {
                "metadata": {
                    "name": f"{fleet_name}-{cluster_name}",
                    "labels": {**_ownership_labels(fleet_name), ENVIRONMENT_LABEL: environment},
                },
                "spec": {
                    "project": capi_project_name(fleet_name),
                    "source": {"repoURL": repo_url, "targetRevision": revision, "path": "{{ .path.path }}"},
                    "destination": {"server": IN_CLUSTER_SERVER, "namespace": namespace},
                    "syncPolicy": _sync_policy(_CAPI_SYNC_OPTIONS),
                },
            },
        },
    )


def gitops_repository_layout(
    rendered: Iterable[tuple[ClusterSpec, Sequence[Mapping[str, Any]]]],
    *,
    repo_url: str,
    revision: str = "HEAD",
    base_path: str = "",
) -> dict[str, str]:
    """Relative path -> YAML text of the repository the hub's Argo CD syncs.

    ``rendered`` is ``[(r.cluster, r.objects) for r in render_clusters(...)]``.
    Files: ``<base>/clusters/<env>/<cluster>/cluster.yaml`` (as
    ``dokaseca render -o`` writes them), ``<base>/clusters/<env>/namespace.yaml``
    (the environment's namespaces; Argo CD also creates them on sync) and
    ``<base>/bootstrap/applicationset.yaml`` (the AppProject, then the
    ApplicationSet: apply it once to the hub).
    """
    rendered = list(rendered)
    if not rendered:
        raise ValueError("no clusters to lay out")
    clusters = [cluster for cluster, _ in rendered]
    fleets = sorted({cluster.fleet for cluster in clusters})
    if len(fleets) != 1:
        raise ValueError(f"one repository holds one fleet, got {', '.join(fleets)}")
    namespaces, prefix = _namespace_scheme(clusters)
    root = join_repo_path(base_path, "")
    files: dict[str, str] = {}

    def at(*parts: str) -> str:
        return "/".join(part for part in (root, *parts) if part)

    for environment in sorted({cluster.environment for cluster in clusters}):
        in_environment = [cluster for cluster in clusters if cluster.environment == environment]
        files[at(CLUSTERS_FOLDER, environment, "namespace.yaml")] = dump_all(namespace_objects(in_environment))
    for cluster, objects in rendered:
        path = at(CLUSTERS_FOLDER, cluster.environment, cluster.name, "cluster.yaml")
        if path in files:
            raise ValueError(f"cluster {cluster.name!r} of environment {cluster.environment!r} is given twice")
        files[path] = dump_all(objects)
    files[at(BOOTSTRAP_FOLDER, "applicationset.yaml")] = dump_all(
        [
            capi_project(fleets[0], repo_url),
            capi_applicationset(fleets[0], repo_url, revision, base_path, namespaces=namespaces, namespace_prefix=prefix),
        ]
    )
    return dict(sorted(files.items()))


def _namespace_scheme(clusters: Sequence[ClusterSpec]) -> tuple[str, str]:
    """The fleet's ``management.namespaces`` and prefix, read back from the clusters' namespaces."""
    for scheme, folder_of in (("per-environment", lambda c: c.environment), ("per-cluster", lambda c: c.name)):
        prefixes = {c.namespace[: -len(folder_of(c))] if c.namespace.endswith(folder_of(c)) else None for c in clusters}
        if len(prefixes) == 1 and None not in prefixes:
            return scheme, prefixes.pop()
    raise ValueError("the clusters' namespaces follow neither per-environment nor per-cluster naming with one prefix")


# -------------------------------------------------------------------------
# Flux
# -------------------------------------------------------------------------


def flux_git_ref(revision: str) -> dict[str, str]:
    """A GitRepository ``ref`` for a fleet file revision (see the module docstring)."""
    if revision == "HEAD":
        return {"branch": "main"}
    if _COMMIT_SHA.match(revision):
        return {"commit": revision.lower()}
    if revision.startswith("refs/"):
        return {"name": revision}
    if _RELEASE_TAG.match(revision):
        return {"tag": revision}
    return {"branch": revision}


def flux_git_repository(cluster: ClusterSpec, which: str = ADDONS) -> dict[str, Any]:
    repo = _required_repo(cluster, "flux", which)
    return k8s_object(
        FLUX_SOURCE_API_VERSION,
        "GitRepository",
        FLUX_OBJECT_NAMES[which],
        FLUX_NAMESPACE,
        labels=_ownership_labels(cluster.fleet),
        spec={"interval": "1m", "timeout": "60s", "url": repo.url, "ref": flux_git_ref(repo.revision)},
    )


def flux_kustomization(cluster: ClusterSpec, which: str = ADDONS) -> dict[str, Any]:
    """Applies the repository's bootstrap path with the cluster's metadata substituted.

    Workloads wait for the addons (their CRDs and controllers). Child
    Kustomizations in the repository must list the ConfigMap in their own
    ``postBuild.substituteFrom``: substitution does not cascade.
    """
    repo = _required_repo(cluster, "flux", which)
    spec: dict[str, Any] = {
        "interval": "10m",
        "retryInterval": "1m",
        "timeout": "10m",
        "sourceRef": {"kind": "GitRepository", "name": FLUX_OBJECT_NAMES[which]},
        "path": "./" + join_repo_path(repo.base_path, repo.path),
        "prune": True,
        "wait": True,
        "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": CLUSTER_METADATA_CONFIGMAP}]},
    }
    if which == WORKLOADS and _repo(cluster, "flux", ADDONS) is not None:
        spec["dependsOn"] = [{"name": FLUX_OBJECT_NAMES[ADDONS]}]
    name = FLUX_OBJECT_NAMES[which]
    return k8s_object(FLUX_KUSTOMIZE_API_VERSION, "Kustomization", name, FLUX_NAMESPACE, labels=_ownership_labels(cluster.fleet), spec=spec)


def substitution_variable(key: str) -> str:
    """A label or annotation key as a Flux post-build variable name."""
    if _SUBSTITUTION_VARIABLE.match(key):
        return key
    name = _NOT_VARIABLE_CHARACTER.sub("_", key)
    return name if _SUBSTITUTION_VARIABLE.match(name) else "_" + name


def flux_cluster_metadata_configmap(cluster: ClusterSpec, metadata: GitOpsMetadata) -> dict[str, Any]:
    """The GitOps Bridge labels and annotations as Flux substitution variables."""
    _gitops(cluster, "flux")
    data: dict[str, str] = {}
    origin: dict[str, str] = {}
    for where, entries in (("label", metadata.labels), ("annotation", metadata.annotations)):
        for key, value in sorted(entries.items()):
            variable = substitution_variable(key)
            if variable in data and data[variable] != str(value):
                raise ValueError(
                    f"cluster {cluster.name!r}: {where} {key!r} and {origin[variable]} both become"
                    f" substitution variable {variable!r} with different values"
                )
            data[variable] = str(value)
            origin.setdefault(variable, f"{where} {key!r}")
    return k8s_object(
        "v1",
        "ConfigMap",
        CLUSTER_METADATA_CONFIGMAP,
        FLUX_NAMESPACE,
        labels=_ownership_labels(cluster.fleet),
        data=dict(sorted(data.items())),
    )


def flux_bootstrap_objects(cluster: ClusterSpec, metadata: GitOpsMetadata) -> list[dict[str, Any]]:
    """What a cluster needs once the Flux controllers run, in apply order."""
    objects = [namespace_object(FLUX_NAMESPACE), flux_cluster_metadata_configmap(cluster, metadata)]
    for which in (ADDONS, WORKLOADS):
        if _repo(cluster, "flux", which) is not None:
            objects += [flux_git_repository(cluster, which), flux_kustomization(cluster, which)]
    return objects
