"""Hook specifications: the contract between the core and every plugin.

A plugin is any module or object with functions marked ``@dokaseca.hookimpl``
whose names match the specs below. The core's own behaviour is registered the
same way (see ``dokaseca.plugins.DEFAULT_PLUGINS``), before the entry-point
plugins, so an installed plugin is called first and can override a default.

The hooks follow the three phases of a cluster's life: register what you offer,
prepare infrastructure, render CAPI manifests, bootstrap GitOps. Hook arguments
may be *added* in later versions (pluggy passes only the arguments an
implementation names), never removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from dokaseca.errors import Problem
    from dokaseca.kube import ManagementCluster
    from dokaseca.models import (
        BootstrapResult,
        CheckResult,
        ClusterSpec,
        GitOpsMetadata,
        InfraResult,
        ProviderInfo,
        ProviderManifests,
    )

PROJECT_NAME = "dokaseca"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------
# Registration
# -------------------------------------------------------------------------


@hookspec
def register_providers(register: Callable[[ProviderInfo], None]) -> None:
    """Register the infrastructure providers this plugin offers.

    Called once per plugin manager, after all plugins are loaded and before any
    fleet file is read, so the fleet loader knows every provider name, its
    flavors and the attrs class that validates its block in the fleet file.

    :param register: call it once per provider with a
        :class:`~dokaseca.models.ProviderInfo`. Registering a name twice is an
        error reported against both plugins.
    :returns: nothing; the return value is ignored.

    Must not import the provider's SDK (``ProviderInfo.sdk_modules`` names it
    so the core can check for it without importing it).

    .. versionadded:: 0.1
    """


@hookspec
def check_cluster(cluster: ClusterSpec, provider: ProviderInfo) -> list[Problem] | None:
    """Check a cluster's provider settings against the rest of the cluster.

    Called for every plugin while a fleet file is loaded, once per cluster,
    after the layers are merged and the provider block has passed its own
    attrs validators. Use it for rules that need both: zones inside the
    cluster's region, a node subnet that must not overlap the pod range, a
    machine size that is not one of the provider's. The problems are
    reported with every other fleet-file problem (exit code 2).

    :param cluster: the cluster's effective settings.
    :param provider: the provider registration the cluster uses; return
        None or ``[]`` when it is not yours.
    :returns: a list of :class:`~dokaseca.errors.Problem` whose ``path`` is
        relative to the cluster entry (``gcp.zones[1]``,
        ``workers.general.machineSize``); the core prefixes ``clusters[i].``.

    Must be pure: no network, no SDK import.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------
# Phase 1: prepare infrastructure
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def prepare_infrastructure(
    cluster: ClusterSpec, provider: ProviderInfo, dry_run: bool, management: ManagementCluster
) -> InfraResult | None:
    """Create or verify the cloud prerequisites of one cluster.

    Called by ``dokaseca prepare`` (and ``apply``) once per selected cluster,
    possibly from several threads at once for different clusters. Typical work:
    IAM roles, key pairs, shared networks, image lookups. The outputs are handed
    to :func:`render_provider_manifests` and :func:`gitops_metadata`.

    Stops at the first non-None result; return None when ``provider.name`` is
    not one you registered.

    :param cluster: the cluster's effective settings (all layers merged).
    :param provider: the provider registration the cluster uses.
    :param dry_run: when true, make no mutating call; return the planned
        actions in ``InfraResult.actions`` instead.
    :param management: the management cluster, for providers whose
        infrastructure lives in Kubernetes (Metal3's BareMetalHosts):
        ``management.kube`` connects on first use, so a provider that never
        touches it needs no kubeconfig. Declare the argument only if you use it.
    :returns: an :class:`~dokaseca.models.InfraResult`.

    Must be idempotent: find existing resources (by tags or names) before
    creating, so a second run makes no mutating call and a run killed half-way
    converges when re-run. Import the SDK inside the function, never at module
    level.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------
# Phase 2: render Cluster API manifests
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def render_provider_manifests(
    cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult
) -> ProviderManifests | None:
    """Render the provider-specific Cluster API objects of one cluster.

    Called by ``dokaseca render`` once per cluster. The core renders the
    provider-neutral objects itself (Cluster, KubeadmControlPlane,
    MachineDeployments, KubeadmConfigTemplates, MachineHealthChecks, and the
    ClusterClass in ``clusterclass`` mode) and wires them to what this hook
    returns: the infrastructure cluster object (``AWSCluster``, or
    ``AWSClusterTemplate`` in ClusterClass mode), one machine template for the
    control plane and one per worker pool, identity objects, and for managed
    flavors the control plane and machine pools that replace kubeadm.

    Stops at the first non-None result; return None when ``provider.name`` is
    not one you registered.

    :param cluster: the cluster's effective settings; ``cluster.provider_config``
        is an instance of the provider's config class.
    :param provider: the provider registration the cluster uses.
    :param infra: outputs of :func:`prepare_infrastructure`; empty when
        rendering offline, so fall back to what the fleet file says.
    :returns: a :class:`~dokaseca.models.ProviderManifests`.

    Must be pure and deterministic: no network, no SDK import, no clock or
    randomness. Credentials are referenced by Secret name, never inlined.

    .. versionadded:: 0.1
    """


@hookspec
def modify_manifests(cluster: ClusterSpec, manifests: list[dict[str, Any]]) -> None:
    """Add, change or veto the rendered manifests of one cluster, in place.

    Called for every plugin after the core has assembled a cluster's manifests
    (provider objects plus core objects), in plugin order (most recently
    registered first). Use it for cross-cutting rules: organisation-wide labels
    and annotations, extra objects, policy. To reject a cluster, raise
    :class:`dokaseca.errors.PolicyViolation` with a message that names the
    object and the fix; the error is reported like a fleet-file problem.

    :param cluster: the cluster's effective settings.
    :param manifests: the cluster's objects as plain dicts, in apply order.
        Mutate the list and the dicts; keep them JSON-compatible.
    :returns: nothing; the return value is ignored.

    Must not do network I/O or import SDKs: it runs inside ``render``.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------
# Phase 3: GitOps
# -------------------------------------------------------------------------


@hookspec
def gitops_metadata(
    cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult
) -> GitOpsMetadata | None:
    """Contribute labels and annotations for the cluster's GitOps Bridge Secret.

    Called for every plugin when the GitOps registration of a cluster is built
    (the Argo CD cluster Secret, or the Flux ConfigMap used for post-build
    substitution). Results are merged in plugin order; a later key does not
    overwrite an earlier one, so an installed plugin wins over a default.

    :param cluster: the cluster's effective settings.
    :param provider: the provider registration the cluster uses.
    :param infra: outputs of :func:`prepare_infrastructure` (ids, ARNs,
        endpoints), empty when rendering offline.
    :returns: a :class:`~dokaseca.models.GitOpsMetadata`, or None to add nothing.

    Must not put credentials in labels or annotations: they are readable by
    anyone who can list Secrets' metadata.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def bootstrap_gitops(
    cluster: ClusterSpec,
    engine: str,
    kubeconfig: str,
    metadata: GitOpsMetadata,
    hub_kubeconfig: str | None,
    timeout: float,
) -> BootstrapResult | None:
    """Install and register the GitOps engine for one workload cluster.

    Called by ``dokaseca bootstrap`` and ``apply`` after the cluster's control
    plane is ready. The built-in Argo CD and Flux plugins implement it; a
    plugin can take over an engine by answering first.

    Stops at the first non-None result; return None when ``engine`` is not
    one you implement.

    :param cluster: the cluster's effective settings.
    :param engine: ``"argocd"``, ``"flux"`` or a name a plugin offers.
    :param kubeconfig: path of a 0600 file holding the workload cluster's
        kubeconfig; never log or echo its contents.
    :param metadata: the merged result of :func:`gitops_metadata`.
    :param hub_kubeconfig: in a hub-spoke topology, path of the hub's
        kubeconfig (0600) when ``cluster`` is a spoke, so the spoke can be
        registered on the hub; None otherwise.
    :param timeout: seconds to wait for the engine to report synced.
    :returns: a :class:`~dokaseca.models.BootstrapResult`; ``ready=False``
        with a message naming what is still missing when the wait timed out.

    Must be idempotent (server-side apply), and report "done" only when the
    engine has synced its root application. Never put a credential (token,
    key) in the result or a log.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------
# Diagnostics
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def check_credentials(provider: ProviderInfo, online: bool) -> CheckResult | None:
    """Check that credentials for a provider are present, and optionally valid.

    Called by ``dokaseca doctor`` for each registered provider, in parallel
    with a timeout. Offline, look only at local material (environment
    variables, files, profiles); online, make one cheap authenticated call.

    Stops at the first non-None result; return None when ``provider.name`` is
    not one you registered.

    :param provider: the provider registration to check.
    :param online: whether a network call is allowed.
    :returns: a :class:`~dokaseca.models.CheckResult` whose ``hint`` names the
        variable to set or the login command to run.

    Must never include a secret value in the result.

    .. versionadded:: 0.1
    """
