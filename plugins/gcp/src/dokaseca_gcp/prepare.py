"""``prepare`` for Google Cloud: what a cluster needs before CAPG can build it.

In order: the region and zones as the project sees them (the first call,
and the first test of the credentials); for a GKE cluster the version against
GKE's server config; a network the fleet brings, checked; then the writes:
the environment's network (``gcp.network.create``) and the addons' Workload
Identity service accounts. What can fail on the fleet's values alone comes
before anything is made. Each piece is looked up before anything is made, so
a second run changes nothing and a run killed half-way is finished by the
next one. With ``dry_run`` only get, list and getIamPolicy calls are made and
the changes are listed instead.

The Google Cloud libraries are loaded by :mod:`dokaseca_gcp.session` on the
first call, never at import.
"""

from __future__ import annotations

from typing import Any

from dokaseca import once
from dokaseca.changes import Changes
from dokaseca.models import ClusterSpec, InfraResult

from dokaseca_gcp import network, session
from dokaseca_gcp.config import GcpConfig
from dokaseca_gcp.region import check_region
from dokaseca_gcp.service_accounts import ensure_addon_service_accounts
from dokaseca_gcp.session import connect, gcp_errors
from dokaseca_gcp.versions import gke_version

GKE_FLAVOR = "gke"


def prepare(cluster: ClusterSpec, *, dry_run: bool) -> InfraResult:
    config: GcpConfig = cluster.provider_config
    changes = Changes(dry_run=dry_run)
    outputs: dict[str, Any] = {"project_id": config.project, "region": cluster.region}
    wanted = network.wanted(cluster) if config.network.create else None
    with gcp_errors(cluster):
        gcp = connect(cluster)
        check_region(gcp, cluster)
        if cluster.flavor == GKE_FLAVOR:
            outputs["gke_version"] = gke_version(gcp, cluster, gcp.region, config.gke.channel())
        if wanted is None:
            outputs.update(network.check_own_network(gcp, cluster))
        else:
            outputs.update(network.ensure_network(gcp, cluster, changes).outputs(gcp.region))
        accounts = ensure_addon_service_accounts(gcp, cluster, changes)
        if accounts:
            outputs["addon_service_accounts"] = accounts
    return InfraResult(outputs=outputs, actions=tuple(changes.lines))


def forget() -> None:
    """Drop the credentials, clients and everything looked up, so the next
    prepare asks Google afresh. A ``dokaseca prepare`` run is one process and
    never needs it; a long-lived program (or a test) that changes credentials
    or resources in between does."""
    once.forget_all()
    session.forget()
