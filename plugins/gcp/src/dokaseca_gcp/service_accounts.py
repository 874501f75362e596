"""Workload Identity service accounts for a GKE cluster's addons (``gcp.addonServiceAccounts``).

For each addon: a Google service account ``<cluster>-<addon>`` (cut to IAM's
30 characters with a short digest when longer), the roles listed granted to it
in the project (and only those: a role removed from the list is revoked), and
``roles/iam.workloadIdentityUser`` on it for the Kubernetes service account
``PROJECT.svc.id.goog[namespace/serviceAccount]``, so the addon's pods act as
it. An account of that name that dokaseca did not make is an error, never
taken over.

Accounts and policies are read before anything is written, so a dry run lists
exactly the changes; a write is a read-edit-write with the policy's etag.
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec

from dokaseca_gcp.config import GcpConfig
from dokaseca_gcp.session import Gcp

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
MARK = "dokaseca.io/cluster="
MAX_ACCOUNT_ID = 30
MIN_ACCOUNT_ID = 6


def account_id(cluster: str, addon: str) -> str:
    """``<cluster>-<addon>`` as IAM takes it: 6-30 of [a-z0-9-], starting with a letter."""
    name = f"{cluster}-{addon}".replace("_", "-")
    if not name[0].isalpha():
        name = f"d-{name}"
    if len(name) > MAX_ACCOUNT_ID:
        name = f"{name[: MAX_ACCOUNT_ID - 9].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name.ljust(MIN_ACCOUNT_ID, "0")


def ensure_addon_service_accounts(gcp: Gcp, cluster: ClusterSpec, changes: Changes) -> dict[str, dict[str, str]]:
    config: GcpConfig = cluster.provider_config
    if not config.addon_service_accounts:
        return {}
    accounts = {}
    for addon, wanted in sorted(config.addon_service_accounts.items()):
        ksa = wanted.service_account or addon.replace("_", "-")
        email = f"{account_id(cluster.name, addon)}@{gcp.project}.iam.gserviceaccount.com"
        accounts[addon] = {"email": email, "namespace": wanted.namespace, "service_account": ksa}
    # Everything is read first: an account someone else owns stops prepare with nothing made.
    found = {addon: _find_account(gcp, cluster, account["email"]) for addon, account in accounts.items()}
    project_policy = gcp.policy(f"projects/{gcp.project}") or {}
    for addon, account in accounts.items():
        email = account["email"]
        if found[addon] is None:
            _create_account(gcp, cluster, addon, email, changes)
        account_policy = gcp.policy(f"projects/{gcp.project}/serviceAccounts/{email}") if found[addon] else None
        member = f"serviceAccount:{gcp.project}.svc.id.goog[{account['namespace']}/{account['service_account']}]"
        _workload_identity(gcp, email, member, account_policy or {}, changes)
        _project_roles(gcp, email, set(config.addon_service_accounts[addon].roles), project_policy, changes)
    return accounts


def _find_account(gcp: Gcp, cluster: ClusterSpec, email: str) -> Optional[dict[str, Any]]:
    mark = f"{MARK}{cluster.name}"
    found = gcp.iam("GET", f"v1/projects/{gcp.project}/serviceAccounts/{email}")
    if found is not None and (found.get("description") or "").split(" ", 1)[0] != mark:
        raise ProviderError(
            f"cluster {cluster.name}: service account {email} exists but was not made by dokaseca for this cluster "
            f"(its description does not start with {mark}); prepare will not take it over. Rename the addon in "
            "gcp.addonServiceAccounts or delete the account"
        )
    return found


def _create_account(gcp: Gcp, cluster: ClusterSpec, addon: str, email: str, changes: Changes) -> None:
    changes.make(
        f"create service account {email}",
        gcp.iam,
        method="POST",
        path=f"v1/projects/{gcp.project}/serviceAccounts",
        body={
            "accountId": email.split("@", 1)[0],
            "serviceAccount": {
                "displayName": f"{cluster.name} {addon}"[:100],
                "description": f"{MARK}{cluster.name} addon {addon}, made by dokaseca for fleet {cluster.fleet}",
            },
        },
    )


def _workload_identity(gcp: Gcp, email: str, member: str, policy: dict[str, Any], changes: Changes) -> None:
    """Exactly one Kubernetes service account acts as the addon's: one it was moved
    away from (another namespace or name) must not keep the Google account."""
    pool = f"serviceAccount:{gcp.project}.svc.id.goog["
    held = members(policy, WORKLOAD_IDENTITY_USER)
    stale = sorted(m for m in held if m.startswith(pool) and m != member)
    if member in held and not stale:
        return

    def edit(policy: dict[str, Any]) -> None:
        grant(policy, WORKLOAD_IDENTITY_USER, member)
        for old in stale:
            revoke(policy, WORKLOAD_IDENTITY_USER, old)

    line = f"let {member.removeprefix('serviceAccount:')} act as {email} (Workload Identity)"
    if stale:
        line += f" instead of {', '.join(m.removeprefix('serviceAccount:') for m in stale)}"
    changes.make(line, gcp.edit_policy, resource=f"projects/{gcp.project}/serviceAccounts/{email}", edit=edit)


def _project_roles(gcp: Gcp, email: str, roles: set[str], policy: dict[str, Any], changes: Changes) -> None:
    """Only the account's own bindings are compared, so the other addons' grants in the same run do not matter."""
    member = f"serviceAccount:{email}"
    held = {b["role"] for b in _plain(policy) if member in b.get("members", ())}
    missing, extra = sorted(roles - held), sorted(held - roles)
    if not missing and not extra:
        return

    def edit(policy: dict[str, Any]) -> None:
        for role in missing:
            grant(policy, role, member)
        for role in extra:
            revoke(policy, role, member)

    words = [f"grant {', '.join(missing)}"] * bool(missing) + [f"revoke {', '.join(extra)}"] * bool(extra)
    changes.make(
        f"{' and '.join(words)} to service account {email} in project {gcp.project}",
        gcp.edit_policy,
        resource=f"projects/{gcp.project}",
        edit=edit,
    )


# -- policies in their JSON form; bindings with a condition are never touched ------


def _plain(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in policy.get("bindings", []) if not b.get("condition")]


def members(policy: dict[str, Any], role: str) -> set[str]:
    return {m for b in _plain(policy) if b["role"] == role for m in b.get("members", ())}


def grant(policy: dict[str, Any], role: str, member: str) -> None:
    binding = next((b for b in _plain(policy) if b["role"] == role), None)
    if binding is None:
        policy.setdefault("bindings", []).append({"role": role, "members": [member]})
    elif member not in binding.setdefault("members", []):
        binding["members"].append(member)


def revoke(policy: dict[str, Any], role: str, member: str) -> None:
    for binding in _plain(policy):
        if binding["role"] == role and member in binding.get("members", ()):
            binding["members"].remove(member)
    policy["bindings"] = [b for b in policy.get("bindings", []) if b.get("members")]
