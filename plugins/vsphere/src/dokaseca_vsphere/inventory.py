"""The vCenter inventory as ``prepare`` reads it (every entity's type, name and
parent) and the way CAPV names things in it.

CAPV looks ``vsphere.*`` values up with govmomi's Finder, so they are read
here by the same rules:

- ``/dc1/vm/templates/ubuntu``: an absolute inventory path;
- ``templates/ubuntu``: relative to the datacenter's folder for that kind of
  object (``/dc1/vm`` for templates and folders, ``/dc1/datastore``,
  ``/dc1/network``, ``/dc1/host`` for resource pools);
- ``ubuntu``: a name, looked for at any depth under that folder.

Each path segment may be a glob (``*/Resources``), as govmomi's ``path.Match``.
A ``/`` inside a name is written ``%2f``: vCenter's ``name`` property is
already escaped so (``%`` as ``%25``, ``\\`` as ``%5c``), and paths are made
of it as it is, as govc and CAPV make them.
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Iterable, Optional

import attrs

DATACENTER = frozenset({"Datacenter"})
FOLDER = frozenset({"Folder"})
DATASTORE = frozenset({"Datastore"})
NETWORK = frozenset({"Network", "DistributedVirtualPortgroup", "OpaqueNetwork"})
VIRTUAL_MACHINE = frozenset({"VirtualMachine"})
RESOURCE_POOL = frozenset({"ResourcePool"})
COMPUTE = frozenset({"ComputeResource", "ClusterComputeResource"})
# The managed types the inventory is read for (vCenter includes their subtypes).
READ_TYPES = ("Folder", "Datacenter", "Datastore", "Network", "ComputeResource", "ResourcePool", "VirtualMachine")
GLOB = frozenset("*?[")


@attrs.frozen
class Entity:
    moid: str
    type: str
    name: str
    parent: Optional[str]


def unescape(segment: str) -> str:
    return segment.replace("%2f", "/").replace("%2F", "/").replace("%25", "%")


def is_pattern(value: str) -> bool:
    return bool(GLOB & set(value))


class Inventory:
    """Entities by id, with their inventory paths."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.entities = {e.moid: e for e in entities}
        self._paths: dict[str, str] = {}
        self._by_path = {self.path(moid): entity for moid, entity in self.entities.items()}

    def path(self, moid: str) -> str:
        """``/dc1/vm/templates/ubuntu``; the root folder is ``""``. A VM inside a
        vApp has no parent folder and no path: it gets ``?<id>``, which no value matches."""
        if moid not in self._paths:
            entity = self.entities[moid]
            if entity.parent is None:
                self._paths[moid] = "" if entity.type == "Folder" else f"?{moid}"
            elif entity.parent not in self.entities:
                self._paths[moid] = f"?{moid}"
            else:
                parent = self.path(entity.parent)
                self._paths[moid] = f"?{moid}" if parent.startswith("?") else f"{parent}/{entity.name}"
        return self._paths[moid]

    def at(self, path: str) -> Optional[Entity]:
        return self._by_path.get(path.rstrip("/") if path != "/" else "")

    def below(self, base: str, types: frozenset[str]) -> list[Entity]:
        """Entities of ``types`` anywhere under the folder at ``base``."""
        prefix = base + "/"
        return [e for path, e in self._by_path.items() if e.type in types and path.startswith(prefix)]

    def find(self, types: frozenset[str], value: str, base: str) -> list[Entity]:
        """What ``value`` names among ``types``, by govmomi's Finder rules (see the module)."""
        value = value.rstrip("/") or "/"
        if "/" not in value:
            return [e for e in self.below(base, types) if fnmatch.fnmatchcase(e.name, value)]
        wanted = absolute(value, base).split("/")
        return [
            e
            for path, e in self._by_path.items()
            if e.type in types and len(parts := path.split("/")) == len(wanted) and all(map(fnmatch.fnmatchcase, parts, wanted))
        ]

    def hint(self, types: frozenset[str], value: str, base: str) -> str:
        """What there is instead: a close name, or the few there are."""
        there = sorted(self.path(e.moid) for e in self.below(base, types))
        if not there:
            return f"there is none under {base or '/'}"
        by_name = {path.rsplit("/", 1)[-1]: path for path in there}
        close = difflib.get_close_matches(value.rsplit("/", 1)[-1], list(by_name), n=1, cutoff=0.6)
        if close:
            return f"did you mean {by_name[close[0]]!r}?"
        shown = ", ".join(repr(p) for p in there[:8])
        return f"there are {shown}{f' and {len(there) - 8} more' if len(there) > 8 else ''}"


def absolute(value: str, base: str) -> str:
    """``value`` as an absolute path: as it is, or under ``base`` (a name or a relative path)."""
    return value.rstrip("/") if value.startswith("/") else f"{base}/{value.rstrip('/')}"
