"""Find the read-only reference data (``shared/crds``, ``shared/reference``).

Looked up in ``$DOKASECA_SHARED_DIR``, else as a ``shared`` folder beside any
parent of the current directory or of the calling test. When it is missing a
test skips with the reason, except under CI (``CI=true``) where a missing
reference is a failure, not a reason to pass.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Optional

from dokaseca.crds import CRDSchemas


def find_shared_dir(start: Optional[Path] = None) -> Optional[Path]:
    env = os.environ.get("DOKASECA_SHARED_DIR")
    if env:
        return Path(env) if Path(env, "crds").is_dir() else None
    for origin in filter(None, (start, Path.cwd())):
        for parent in [origin, *origin.resolve().parents]:
            candidate = parent / "shared"
            if (candidate / "crds").is_dir():
                return candidate
    return None


def shared_dir(start: Optional[Path] = None) -> Path:
    """The shared folder, or skip (fail under CI) with a clear reason."""
    import pytest

    found = find_shared_dir(start)
    if found is None:
        reason = "reference data not found: put the 'shared' folder (crds/, reference/) beside the repository or set DOKASECA_SHARED_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: this is a failure, not a skip)")
        pytest.skip(reason)
    return found


@functools.lru_cache(maxsize=None)
def _schemas(crd_dirs: tuple[Path, ...]) -> CRDSchemas:
    return CRDSchemas.from_directories(crd_dirs)


def crd_schemas_for(folders: tuple[str, ...] = (), start: Optional[Path] = None) -> CRDSchemas:
    """CRD schemas from ``shared/crds/<folder>`` for each folder (all of them when empty)."""
    root = shared_dir(start) / "crds"
    dirs = tuple(root / folder for folder in folders) if folders else (root,)
    return _schemas(dirs)
