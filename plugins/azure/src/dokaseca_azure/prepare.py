"""``prepare`` for Azure: what a cluster needs before CAPZ can build it.

In order: the subscription behind ``azure.subscriptionId`` (its tenant, and the
cluster's location among its locations), then what can fail on the fleet's
values alone, with read calls only: the VM sizes, for AKS the Kubernetes
version, a vnet the fleet brings. Then the cluster's resource group, the
environment's network (``azure.network.create``) and the addons' managed
identities. Each piece is looked up before anything is made, so a second run
changes nothing and a run killed half-way is finished by the next one. With
``dry_run`` only GET calls are made and the changes are listed instead.

The Azure SDK is loaded by :mod:`dokaseca_azure.session` on the first call, never at import.
"""

from __future__ import annotations

from typing import Any

from dokaseca import once
from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec, InfraResult

from dokaseca_azure import names, session
from dokaseca_azure.config import AzureConfig
from dokaseca_azure.identities import ensure_addon_identities
from dokaseca_azure.network import ensure_network
from dokaseca_azure.own_network import check_own_network
from dokaseca_azure.resource_group import ensure_resource_group
from dokaseca_azure.session import Azure, azure_errors, connect
from dokaseca_azure.versions import check_kubernetes_version, check_vm_sizes


def prepare(cluster: ClusterSpec, *, dry_run: bool) -> InfraResult:
    changes = Changes(dry_run=dry_run)
    outputs: dict[str, Any] = {}
    with azure_errors(cluster):
        azure = connect(cluster)
        outputs.update(subscription_id=azure.subscription_id, tenant_id=azure.tenant_id, location=azure.location)
        # What can fail on the fleet's values alone comes before anything is made.
        _check_identity_tenant(azure, cluster)
        check_vm_sizes(azure, cluster)
        check_kubernetes_version(azure, cluster)
        outputs.update(check_own_network(azure, cluster) or {})

        group = names.resource_group(cluster)
        ensure_resource_group(
            azure, cluster, changes, group, _group_field(cluster), "Give the cluster a group of its own (azure.resourceGroup)"
        )
        outputs["resource_group"] = group
        outputs.update(ensure_network(azure, cluster, changes) or {})
        identities = ensure_addon_identities(azure, cluster, changes, group)
        if identities:
            outputs["addon_identities"] = identities
    return InfraResult(outputs=outputs, actions=tuple(changes.lines))


def _check_identity_tenant(azure: Azure, cluster: ClusterSpec) -> None:
    """CAPZ signs in to the identity's tenant: it must be the subscription's."""
    config: AzureConfig = cluster.provider_config
    tenant = config.identity.tenant_id
    if tenant.lower() != azure.tenant_id.lower():
        raise ProviderError(
            f"cluster {cluster.name}: azure.identity.tenantId {tenant} is not the tenant of subscription {azure.subscription_id} "
            f"({azure.tenant_id}); CAPZ could not sign in to manage it. Set azure.identity.tenantId to {azure.tenant_id}"
        )


def _group_field(cluster: ClusterSpec) -> str:
    config: AzureConfig = cluster.provider_config
    if config.resource_group:
        return "azure.resourceGroup"
    return f"the default of azure.resourceGroupScope: {config.resource_group_scope}"


def forget() -> None:
    """Drop the sessions and everything looked up, so the next prepare asks Azure
    afresh. A ``dokaseca prepare`` run is one process and never needs it; a
    long-lived program (or a test) that changes credentials or resources in
    between does."""
    once.forget_all()
    session.forget()
