"""The tags prepare writes on what it makes, and reads back to find it again."""

from __future__ import annotations

from typing import Any, Mapping, Optional

OWNER_KEY = "dokaseca.io/managed-by"
OWNER = "dokaseca"


def tag(resource: Mapping[str, Any], key: str) -> Optional[str]:
    """The value of ``key`` among an AWS resource's ``Tags``, or None."""
    return next((t["Value"] for t in resource.get("Tags") or () if t["Key"] == key), None)


def ours(resource: Mapping[str, Any]) -> bool:
    """Whether prepare made it: it carries ``dokaseca.io/managed-by: dokaseca``."""
    return tag(resource, OWNER_KEY) == OWNER


def key_values(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``tags`` in AWS's form: ``[{"Key": ..., "Value": ...}]``."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]
