"""Is a live object already what we would server-side apply? Decided before
writing, so a second ``prepare`` makes no mutating request at all.

Equal values are not enough: a field we applied before and have since dropped
(a label removed from the inventory) must go, and only an apply removes it.
So the fields our field manager owns (``metadata.managedFields``) must be
exactly the fields we would apply now, with the same values. Fields other
managers own (the baremetal-operator's status, CAPM3's labels) do not matter.
"""

from __future__ import annotations

from typing import Any, Mapping

from dokaseca.kube import FIELD_MANAGER

Path = tuple[str, ...]
_IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


def _leaves(node: Any, path: Path, out: dict[Path, Any]) -> None:
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            _leaves(value, path + (str(key),), out)
    else:
        out[path] = node


def applied_fields(obj: Mapping[str, Any]) -> dict[Path, Any]:
    """The leaf fields an apply of ``obj`` sets (identity excluded), with their values."""
    out: dict[Path, Any] = {}
    _leaves(obj, (), out)
    return {path: value for path, value in out.items() if path not in _IDENTITY}


def owned_fields(live: Mapping[str, Any]) -> set[Path]:
    """The leaf fields our field manager's apply owns on ``live``."""
    owned: set[Path] = set()

    def walk(node: Mapping[str, Any], path: Path) -> None:
        children = [key for key in node if key != "."]
        if path and (not children or "." in node):
            owned.add(path)
        for key in children:
            if key.startswith("f:"):
                walk(node[key] or {}, path + (key[2:],))
            elif path:  # list items (k:/v:/i:): we apply no lists, so the list is one field
                owned.add(path)

    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply" and not entry.get("subresource"):
            walk(entry.get("fieldsV1") or {}, ())
    return owned


def _value(obj: Mapping[str, Any], path: Path) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def up_to_date(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """Whether applying ``desired`` would change nothing on ``live``."""
    if live is None:
        return False
    wanted = applied_fields(desired)
    return owned_fields(live) == set(wanted) and all(_value(live, path) == value for path, value in wanted.items())
