"""The labels that tie BareMetalHosts to machine templates, and label syntax checks.

Render's host selectors and prepare's host registration must agree on these
keys: a template picks hosts by environment, role and, when a size applies,
the hardware class; the inventory's site and rack become labels too, so a
pool can ask for a rack in ``hostSelectors``.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import attrs

from dokaseca.builtin.standard_labels import ENVIRONMENT_LABEL
from dokaseca.validators import InvalidValue

ROLE_LABEL = "dokaseca.io/role"
MACHINE_SIZE_LABEL = "dokaseca.io/machine-size"
SITE_LABEL = "dokaseca.io/site"
RACK_LABEL = "dokaseca.io/rack"
RESERVED_SELECTOR_LABELS = (ENVIRONMENT_LABEL, ROLE_LABEL, MACHINE_SIZE_LABEL)
ROLES = ("control-plane", "worker")

_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_value_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot be a Kubernetes label value, or None."""
    if len(value) > 63 or not _LABEL_NAME.match(value):
        return "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def label_key_problem(key: str) -> Optional[str]:
    """Why ``key`` cannot be a Kubernetes label key, or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return "the prefix before '/' must be a DNS subdomain such as 'example.com'"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return "the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def check_label(key: str, value: str, within: str = "") -> None:
    """Raise InvalidValue when ``key: value`` is not a Kubernetes label; ``within`` names the map that holds it."""
    problem = label_key_problem(key)
    if problem:
        raise InvalidValue(f"{within}: {key!r} is not a label key" if within else f"{key!r} is not a label key", key, problem)
    problem = label_value_problem(value)
    if problem:
        raise InvalidValue(f"{within}.{key}: is not a label value" if within else f"{key}: is not a label value", value, problem)


def as_label(label: str):
    """An attrs validator for a field hosts carry as the label ``label`` (None: not set)."""

    def check(instance: Any, attribute: attrs.Attribute, value: Optional[str]) -> None:
        problem = label_value_problem(value) if value is not None else None
        if problem:
            raise InvalidValue(f"is not a label value (hosts carry it as {label})", value, problem)

    return check
