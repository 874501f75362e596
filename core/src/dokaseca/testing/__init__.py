"""Tools for provider authors and for this repository's tests.

- :class:`ProviderContract`: subclass it in your provider's tests to get the
  conformance suite every provider must pass.
- :class:`OneClusterFleet`, :func:`one`, :func:`content_named` and the other
  helpers in :mod:`dokaseca.testing.helpers`: for a provider's own render tests.
- :func:`shared_dir`: where the upstream CRDs and reference templates live.
- As a pytest plugin (``pytest_plugins = ["dokaseca.testing"]``) it also
  provides the ``crd_schemas``, ``plugin_host`` and ``shared_folder`` fixtures.
"""

from dokaseca.testing.contract import ProviderContract
from dokaseca.testing.fixtures import crd_schemas, plugin_host, shared_folder  # noqa: F401  (pytest fixtures)
from dokaseca.testing.helpers import (
    OneClusterFleet,
    by_kind,
    clusterctl_template,
    content_named,
    extra_args,
    fleet_clusters,
    fleet_problems,
    fleet_yaml,
    node_registrations,
    one,
    prepare_text,
    prepared,
    render_objects,
)
from dokaseca.testing.shared import crd_schemas_for, shared_dir

__all__ = [
    "OneClusterFleet",
    "ProviderContract",
    "by_kind",
    "clusterctl_template",
    "content_named",
    "crd_schemas_for",
    "extra_args",
    "fleet_clusters",
    "fleet_problems",
    "fleet_yaml",
    "node_registrations",
    "one",
    "prepare_text",
    "prepared",
    "render_objects",
    "shared_dir",
]
