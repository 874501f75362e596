"""Errors a user can act on. Each names where the problem is and how to fix it."""

from __future__ import annotations

from typing import Any, Sequence

import attrs

_UNSET: Any = object()


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
            text += f" (got {self.value!r})"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.value is not _UNSET:
            data["value"] = self.value
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
