"""Resource groups: the cluster's (``azure.resourceGroup``, else per cluster or
per environment) and the shared network's. Made with their tags when missing;
one that exists is used as it is, unless it is in another location."""

from __future__ import annotations

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once

from dokaseca_azure import names
from dokaseca_azure.session import Azure, absent
from dokaseca_azure.tags import tags

_groups = Once()


def ensure_resource_group(azure: Azure, cluster: ClusterSpec, changes: Changes, name: str, field: str, fix: str) -> None:
    """Make group ``name`` in the cluster's location unless it exists; ``field``
    names the setting it comes from and ``fix`` says how to pick another, for
    the error when it is elsewhere."""
    key = (azure.subscription_id, name.lower())
    location = changes.once(_groups, key, lambda mine: _ensure(azure, cluster, name, mine))
    if location != azure.location:
        raise ProviderError(
            f"cluster {cluster.name}: resource group {name!r} ({field}) is in {location}, but the cluster is in {azure.location}; "
            f"a group's location cannot change. {fix}, or put the cluster in {location}"
        )


def _ensure(azure: Azure, cluster: ClusterSpec, name: str, changes: Changes) -> str:
    from azure.mgmt.resource.resources.models import ResourceGroup

    groups = azure.client("resources").resource_groups
    found = absent(groups.get, resource_group_name=name)
    if found is not None:
        return names.location(found.location)
    changes.make(
        f"create resource group {name} in {azure.location}",
        groups.create_or_update,
        resource_group_name=name,
        parameters=ResourceGroup(location=azure.location, tags=tags(cluster, shared=name != cluster.name)),
    )
    return azure.location
