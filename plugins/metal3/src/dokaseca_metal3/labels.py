"""The labels that tie BareMetalHosts to machine templates, and label syntax checks.

Render's host selectors and prepare's host registration must agree on these
keys: a template picks hosts by environment, role and, when a size applies,
the hardware class; the inventory's site and rack become labels too, so a
pool can ask for a rack in ``hostSelectors``.
"""

from __future__ import annotations

import re
from typing import Optional

from dokaseca.builtin.standard_labels import ENVIRONMENT_LABEL

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
