"""pytest fixtures, active with ``pytest_plugins = ["dokaseca.testing"]``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from dokaseca.crds import CRDSchemas
from dokaseca.plugins import PluginHost, load_plugins
from dokaseca.testing.shared import crd_schemas_for, shared_dir


@pytest.fixture
def plugin_host() -> Callable[..., PluginHost]:
    """Build an isolated plugin host: no entry points, only the plugins given.

    ``plugin_host(("aws", dokaseca_aws.plugin), ...)``
    """

    def build(*plugins: tuple[str, object], autoload: bool = False) -> PluginHost:
        return load_plugins(autoload=autoload, extra=plugins)

    return build


@pytest.fixture(scope="session")
def crd_schemas(request: pytest.FixtureRequest) -> CRDSchemas:
    """Every CRD in ``shared/crds`` (skips, or fails under CI, when absent)."""
    return crd_schemas_for((), start=request.config.rootpath)


@pytest.fixture(scope="session")
def shared_folder(request: pytest.FixtureRequest) -> Path:
    """The ``shared`` folder (``crds/``, ``reference/``); skips, or fails under CI, when absent."""
    return shared_dir(request.config.rootpath)
