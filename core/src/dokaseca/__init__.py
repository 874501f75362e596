"""DoKa Seca: declarative Kubernetes fleets on Cluster API.

The public API for plugin authors is re-exported here. Names are resolved on
first use (PEP 562) so ``import dokaseca`` stays cheap for the CLI.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from dokaseca.hookspecs import hookimpl

__version__ = "0.1.0"

_EXPORTS = {
    "ProviderInfo": "dokaseca.models",
    "ProviderManifests": "dokaseca.models",
    "KubeadmSettings": "dokaseca.models",
    "InfraResult": "dokaseca.models",
    "GitOpsMetadata": "dokaseca.models",
    "BootstrapResult": "dokaseca.models",
    "CheckResult": "dokaseca.models",
    "ClusterSpec": "dokaseca.models",
    "WorkerPool": "dokaseca.models",
    "k8s_object": "dokaseca.manifests",
    "contract_ref": "dokaseca.manifests",
    "template_ref": "dokaseca.manifests",
    "InvalidValue": "dokaseca.validators",
    "PolicyViolation": "dokaseca.errors",
    "FleetError": "dokaseca.errors",
    "load_plugins": "dokaseca.plugins",
    "load_fleet": "dokaseca.config",
}

__all__ = ["hookimpl", "__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dokaseca' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
