"""Tools for provider authors and for this repository's tests.

- :class:`ProviderContract`: subclass it in your provider's tests to get the
  conformance suite every provider must pass.
- :func:`shared_dir`: where the upstream CRDs and reference templates live.
- As a pytest plugin (``pytest_plugins = ["dokaseca.testing"]``) it also
  provides the ``crd_schemas`` and ``plugin_host`` fixtures.
"""

from dokaseca.testing.contract import ProviderContract
from dokaseca.testing.shared import crd_schemas_for, shared_dir
from dokaseca.testing.fixtures import crd_schemas, plugin_host  # noqa: F401  (pytest fixtures)

__all__ = ["ProviderContract", "crd_schemas_for", "shared_dir"]
