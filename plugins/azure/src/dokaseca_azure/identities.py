"""A user-assigned managed identity per ``azure.addonIdentities`` entry, named
``<cluster>-<addon>``, in the cluster's resource group. With
``azure.serviceAccountIssuer`` each also gets a federated credential (named
``dokaseca``) trusting the addon's service account from that issuer, which is
what Microsoft Entra Workload ID needs; without it (an AKS cluster's issuer
exists only once the cluster does) that step is left to the user.

An identity of that name prepare did not make is an error, never taken over.
Role assignments are not made: grant each identity's principal the roles the
addon needs (``az role assignment create``).
"""

from __future__ import annotations

from typing import Any

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec

from dokaseca_azure import names
from dokaseca_azure.config import AzureConfig
from dokaseca_azure.session import Azure, absent
from dokaseca_azure.tags import ours, tags

FEDERATED_CREDENTIAL = "dokaseca"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"


def ensure_addon_identities(azure: Azure, cluster: ClusterSpec, changes: Changes, group: str) -> dict[str, dict[str, str]]:
    config: AzureConfig = cluster.provider_config
    found = {}
    for addon, wanted in sorted(config.addon_identities.items()):
        name = names.addon_identity(cluster.name, addon)
        service_account = names.service_account(addon, wanted.service_account)
        identity = _identity(azure, cluster, changes, group, name)
        entry = {
            "resource_id": f"{azure.group_id(group)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            "namespace": wanted.namespace,
            "service_account": service_account,
        }
        if identity is not None:  # a dry run knows no client id before the identity exists
            entry.update(client_id=identity.client_id, principal_id=identity.principal_id)
        if config.service_account_issuer:
            subject = f"system:serviceaccount:{wanted.namespace}:{service_account}"
            _federate(azure, changes, group, identity, name, config.service_account_issuer, subject)
        found[addon] = entry
    return found


def _identity(azure: Azure, cluster: ClusterSpec, changes: Changes, group: str, name: str) -> Any:
    from azure.mgmt.msi.models import Identity

    identities = azure.client("msi").user_assigned_identities
    found = absent(identities.get, resource_group_name=group, resource_name=name)
    if found is not None:
        if not ours(found.tags):
            raise ProviderError(
                f"cluster {cluster.name}: managed identity {name!r} in resource group {group!r} exists and was not made by dokaseca; "
                "prepare never takes an identity over: rename the addon in azure.addonIdentities, or delete that identity"
            )
        return found
    return changes.make(
        f"create managed identity {name} in {group}",
        identities.create_or_update,
        resource_group_name=group,
        resource_name=name,
        parameters=Identity(location=azure.location, tags=tags(cluster, shared=False)),
    )


def _federate(azure: Azure, changes: Changes, group: str, identity: Any, name: str, issuer: str, subject: str) -> None:
    from azure.mgmt.msi.models import FederatedIdentityCredential

    credentials = azure.client("msi").federated_identity_credentials
    current = None
    if identity is not None:  # else a dry run: the identity, and so its credential, does not exist yet
        current = absent(
            credentials.get, resource_group_name=group, resource_name=name, federated_identity_credential_resource_name=FEDERATED_CREDENTIAL
        )
    if current is not None and (current.issuer, current.subject, list(current.audiences or ())) == (issuer, subject, [TOKEN_AUDIENCE]):
        return
    verb = "update" if current is not None else "create"
    changes.make(
        f"{verb} federated credential of managed identity {name}: {subject} from {issuer}",
        credentials.create_or_update,
        resource_group_name=group,
        resource_name=name,
        federated_identity_credential_resource_name=FEDERATED_CREDENTIAL,
        parameters=FederatedIdentityCredential(issuer=issuer, subject=subject, audiences=[TOKEN_AUDIENCE]),
    )
