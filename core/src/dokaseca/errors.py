"""Errors a user can act on. Each names where the problem is and how to fix it."""

from __future__ import annotations

import re
from typing import Any, Sequence

import attrs

_UNSET: Any = object()

# A value at a path like `identity.password` or `bmc.token` is never echoed back;
# `secretName` / `secretRef` only name a Secret and are fine to show.
_SENSITIVE = re.compile(r"(password|passwd|token|secret|credential|private_?key|access_?key|client_?secret)", re.I)
_REFERENCE = re.compile(r"(name|ref|namespace|file|env)$", re.I)
REDACTED = "<redacted>"


def is_sensitive(path: str) -> bool:
    leaf = re.split(r"[.\[]", path)[-1] if path else ""
    return bool(_SENSITIVE.search(leaf)) and not _REFERENCE.search(leaf)


def redact(path: str, value: Any) -> Any:
    return REDACTED if is_sensitive(path) else value


@attrs.frozen(kw_only=True)
class Problem:
    """One thing wrong in a fleet file, at ``path`` (``clusters[2].aws.region``)."""

    path: str
    message: str
    value: Any = _UNSET
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path or '(fleet file)'}: {self.message}"
        if self.value is not _UNSET:
            text += f" (got {redact(self.path, self.value)!r})"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.value is not _UNSET:
            data["value"] = redact(self.path, self.value)
        if self.hint:
            data["hint"] = self.hint
        return data


class DokasecaError(Exception):
    """Base of the errors the CLI turns into a message and exit code 2."""

    exit_code = 2


class FleetError(DokasecaError):
    """Every problem found in a fleet file, reported together."""

    def __init__(self, problems: Sequence[Problem], source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        super().__init__(self.summary())

    def summary(self) -> str:
        head = f"{len(self.problems)} problem(s) in {self.source or 'the fleet file'}:"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class PolicyViolation(DokasecaError):
    """Raised by a ``modify_manifests`` hook to reject a cluster's manifests."""


class ProviderError(DokasecaError):
    """A provider could not do what was asked (not installed, unsupported flavor...)."""
