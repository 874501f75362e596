"""The tags prepare writes on what it makes (in the creating call), and reads back."""

from __future__ import annotations

from typing import Mapping, Optional

from dokaseca.models import ClusterSpec

OWNER_KEY = "dokaseca.io/managed-by"
OWNER = "dokaseca"


def tags(cluster: ClusterSpec, *, shared: bool) -> dict[str, str]:
    """What prepare puts on a resource: the fleet, the environment, and for a
    resource of one cluster its name. ``azure.additionalTags`` come first, so
    ours win."""
    found = {**cluster.provider_config.additional_tags, "dokaseca.io/fleet": cluster.fleet, "dokaseca.io/environment": cluster.environment}
    if not shared:
        found["dokaseca.io/cluster"] = cluster.name
    found[OWNER_KEY] = OWNER
    return found


def ours(resource_tags: Optional[Mapping[str, str]]) -> bool:
    """Whether prepare made it: it carries ``dokaseca.io/managed-by: dokaseca``."""
    return (resource_tags or {}).get(OWNER_KEY) == OWNER
