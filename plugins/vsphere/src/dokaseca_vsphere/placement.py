"""The VM folder and the resource pool a cluster's machines go into, made when missing.

Where they are is worked out first, from the inventory alone, so a value that
cannot work fails before anything is made; then each missing level is made
once per process, under a lock (clusters of one environment share them), and
vCenter's ``DuplicateName`` (another process made it meanwhile) counts as made.
``CreateFolder`` and ``CreateResourcePool`` are synchronous calls, not tasks.
"""

from __future__ import annotations

from typing import Callable, Optional

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.once import Once

from dokaseca_vsphere.inventory import COMPUTE, FOLDER, RESOURCE_POOL, Entity, Inventory, absolute, is_pattern, unescape
from dokaseca_vsphere.session import Vcenter

_folders = Once()
_pools = Once()


def folder_path(inventory: Inventory, datacenter: str, value: str, field: str) -> str:
    """Where the folder ``value`` is, or will be made: under the datacenter's VM folder."""
    base = f"{datacenter}/vm"
    return _place(inventory, base, value, field, FOLDER, "VM folder", lambda: base)


def pool_path(inventory: Inventory, datacenter: str, value: str, field: str) -> str:
    """Where the resource pool ``value`` is, or will be made: under a cluster's (or host's) pool."""
    base = f"{datacenter}/host"

    def parent_of_a_name() -> str:
        roots = inventory.find(RESOURCE_POOL, "*/Resources", base)
        if len(roots) == 1:
            return inventory.path(roots[0].moid)
        there = sorted(inventory.path(e.moid) for e in inventory.below(base, COMPUTE))
        raise ProviderError(
            f"{field} {value!r} is a name, and the datacenter has {len(there)} clusters and hosts at {base} "
            f"({', '.join(repr(p) for p in there) or 'none'}) to make it under; write where it goes, e.g. '<cluster>/Resources/{value}'"
        )

    return _place(inventory, base, value, field, RESOURCE_POOL, "resource pool", parent_of_a_name)


def default_pool(inventory: Inventory, datacenter: str) -> str:
    """The pool CAPV takes when ``vsphere.resourcePool`` is unset (govmomi's ``*/Resources``), if there is one."""
    base = f"{datacenter}/host"
    roots = inventory.find(RESOURCE_POOL, "*/Resources", base)
    if len(roots) == 1:
        return inventory.path(roots[0].moid)
    there = sorted(inventory.path(e.moid) for e in roots)
    raise ProviderError(
        f"vsphere.resourcePool is not set, and {base} holds {len(there)} clusters or hosts "
        f"({', '.join(repr(p.removesuffix('/Resources')) for p in there) or 'none'}): CAPV needs exactly one to pick; "
        f"set vsphere.resourcePool, e.g. {(there[0] if there else base + '/<cluster>/Resources')!r}"
    )


def make_folder(vcenter: Vcenter, inventory: Inventory, path: str, changes: Changes) -> None:
    _make(vcenter, inventory, path, changes, _folders, "VM folder", vcenter.create_folder)


def make_pool(vcenter: Vcenter, inventory: Inventory, path: str, changes: Changes) -> None:
    _make(vcenter, inventory, path, changes, _pools, "resource pool", vcenter.create_resource_pool)


def _place(
    inventory: Inventory, base: str, value: str, field: str, types: frozenset[str], what: str, parent_of_a_name: Callable[[], str]
) -> str:
    found = inventory.find(types, value, base)
    if len(found) == 1:
        return inventory.path(found[0].moid)
    if len(found) > 1:
        paths = sorted(inventory.path(e.moid) for e in found)
        raise ProviderError(f"{field} {value!r} names {len(paths)} {what}s ({', '.join(map(repr, paths))}); write the full path of one")
    if is_pattern(value):
        raise ProviderError(f"{field} {value!r} matches no {what}, and a pattern cannot be made; write a path")
    path = f"{parent_of_a_name()}/{value}" if "/" not in value else absolute(value, base)
    if not path.startswith(base + "/"):
        raise ProviderError(f"{field} {value!r} is not under {base}, where the datacenter's {what}s are")
    ancestor = _existing_ancestor(inventory, path)
    if ancestor is not None and ancestor.type not in types:
        raise ProviderError(
            f"{field} {value!r}: {inventory.path(ancestor.moid)} is a {ancestor.type}, and a {what} can only be made inside a "
            f"{what}{'; pools live under <cluster>/Resources' if types == RESOURCE_POOL else ''}"
        )
    return path


def _existing_ancestor(inventory: Inventory, path: str) -> Optional[Entity]:
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        found = inventory.at(path)
        if found is not None:
            return found
    return None


def _make(
    vcenter: Vcenter, inventory: Inventory, path: str, changes: Changes, memo: Once, what: str, create: Callable[..., str]
) -> Optional[str]:
    """The id of the object at ``path``, each missing level made (once per process);
    None in a dry run for what would be made."""
    existing = inventory.at(path)
    if existing is not None:
        return existing.moid
    parent_path, name = path.rsplit("/", 1)

    def work(mine: Changes) -> Optional[str]:
        parent = _make(vcenter, inventory, parent_path, mine, memo, what, create)
        return mine.make(f"create {what} {path}", create, parent=parent, name=unescape(name))

    return changes.once(memo, (vcenter.target, path), work)
