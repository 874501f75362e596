"""``prepare`` for vSphere: what a cluster needs in vCenter before CAPV can clone its machines.

Reading first: log in (see :mod:`dokaseca_vsphere.session`), read the
inventory once per session (type, name and parent of every datacenter, folder,
datastore, network, cluster, pool and VM), find the datacenter, network,
datastore and template as CAPV will find them (every value that finds nothing
is named at once, with what there is instead), and check that the template is a
template of the cluster's Kubernetes version. Then make what is missing: the
VM folder (``vsphere.folder``; by default ``<fleet>-<environment>`` in the
datacenter's VM folder) and the resource pool ``vsphere.resourcePool`` names.

A second run finds everything and changes nothing; with ``dry_run`` only reads
are made and the changes are listed instead. The outputs are full inventory
paths, so ``render --prepared`` pins exactly what was checked.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

from dokaseca import once
from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec, InfraResult
from dokaseca.once import Once
from dokaseca.progress import report

from dokaseca_vsphere import placement, template
from dokaseca_vsphere.inventory import DATACENTER, DATASTORE, NETWORK, VIRTUAL_MACHINE, Entity, Inventory
from dokaseca_vsphere.session import Vcenter, connect, logout_all, vsphere_errors

_inventories = Once()


def prepare(cluster: ClusterSpec, *, dry_run: bool) -> InfraResult:
    config = cluster.provider_config
    changes = Changes(dry_run=dry_run)
    with _named(cluster), vsphere_errors(cluster):
        vcenter = connect(cluster)
        inventory = _inventories.value(vcenter.target, lambda: _read(vcenter))
        datacenter = _datacenter(inventory, config.datacenter)
        dc = inventory.path(datacenter.moid)
        outputs: dict[str, Any] = {"server": config.server, "datacenter": dc}
        problems: list[str] = []

        def one(types: frozenset[str], value: str, under: str, field: str, what: str) -> Optional[Entity]:
            base = f"{dc}/{under}"
            found = inventory.find(types, value, base)
            if len(found) == 1:
                return found[0]
            if found:
                paths = ", ".join(sorted(repr(inventory.path(e.moid)) for e in found))
                problems.append(f"{field} {value!r} names {len(found)} {what}s ({paths}); write the full path of one")
            else:
                problems.append(f"{field} {value!r} matches no {what} in datacenter {dc} ({inventory.hint(types, value, base)})")
            return None

        def placed(where: Any, *arguments: Any) -> Optional[str]:
            try:
                return where(inventory, dc, *arguments)
            except ProviderError as exc:
                problems.append(str(exc))
                return None

        network = one(NETWORK, config.network, "network", "vsphere.network", "network")
        if template.is_uuid(config.template):
            moid = vcenter.vm_by_instance_uuid(datacenter.moid, config.template)
            vm = inventory.entities.get(moid or "") or (Entity(moid=moid, type="VirtualMachine", name="", parent=None) if moid else None)
            if vm is None:
                problems.append(f"vsphere.template {config.template!r} is an instance UUID, and no VM in datacenter {dc} has it")
        else:
            vm = one(VIRTUAL_MACHINE, config.template, "vm", "vsphere.template", "template")
        if config.datastore:
            datastore = one(DATASTORE, config.datastore, "datastore", "vsphere.datastore", "datastore")
        elif not config.storage_policy:  # CAPV then takes the datacenter's only datastore
            datastore = _only(inventory, dc, problems)
        else:
            datastore = None
        folder = placed(placement.folder_path, config.folder or f"{dc}/vm/{cluster.fleet}-{cluster.environment}", "vsphere.folder")
        if config.resource_pool:
            pool = placed(placement.pool_path, config.resource_pool, "vsphere.resourcePool")
        else:
            pool = placed(placement.default_pool)
        if problems:
            raise ProviderError(_listed(cluster, vcenter, problems))

        assert vm is not None and network is not None and folder is not None and pool is not None
        shown = config.template if template.is_uuid(config.template) else inventory.path(vm.moid)
        template.check(vcenter, inventory, cluster, vm.moid, vm.name, shown, f"{dc}/vm")
        outputs.update(network=inventory.path(network.moid), template=shown, folder=folder, resource_pool=pool)
        if datastore is not None:
            outputs["datastore"] = inventory.path(datastore.moid)
        placement.make_folder(vcenter, inventory, folder, changes)
        placement.make_pool(vcenter, inventory, pool, changes)
    return InfraResult(outputs=outputs, actions=tuple(changes.lines))


def forget() -> None:
    """Log out of every session and drop what was read, so the next prepare asks
    vCenter afresh (a test, or a long-lived program; a CLI run never needs it)."""
    logout_all()
    once.forget_all()


def _read(vcenter: Vcenter) -> Inventory:
    report(f"reading the inventory of vCenter {vcenter.target.server}")
    return vcenter.inventory()


def _datacenter(inventory: Inventory, value: Optional[str]) -> Entity:
    found = inventory.find(DATACENTER, value or "*", "")
    if len(found) == 1:
        return found[0]
    every = ", ".join(repr(p) for p in sorted(inventory.path(e.moid) for e in inventory.below("", DATACENTER))) or "none"
    if value is None:
        raise ProviderError(f"vsphere.datacenter is not set, and vCenter has {len(found)} datacenters ({every}): CAPV needs one to pick; set it")
    if found:
        raise ProviderError(f"vsphere.datacenter {value!r} names {len(found)} datacenters; write the full path of one ({every})")
    raise ProviderError(f"vsphere.datacenter {value!r} matches no datacenter ({inventory.hint(DATACENTER, value, '')})")


def _only(inventory: Inventory, dc: str, problems: list[str]) -> Optional[Entity]:
    every = inventory.below(f"{dc}/datastore", DATASTORE)
    if len(every) == 1:
        return every[0]
    paths = ", ".join(sorted(repr(inventory.path(e.moid)) for e in every)) or "none"
    problems.append(
        f"vsphere.datastore and vsphere.storagePolicy are not set, and datacenter {dc} has {len(every)} datastores ({paths}): "
        "CAPV needs one to pick; set vsphere.datastore"
    )
    return None


def _listed(cluster: ClusterSpec, vcenter: Vcenter, problems: list[str]) -> str:
    if len(problems) == 1:
        return f"cluster {cluster.name}: {problems[0]}"
    lines = "\n".join(f"  - {p}" for p in problems)
    return f"cluster {cluster.name}: {len(problems)} problems in vCenter {vcenter.target.server}:\n{lines}"


@contextlib.contextmanager
def _named(cluster: ClusterSpec) -> Iterator[None]:
    """Errors that do not say which cluster they are about get its name in front."""
    try:
        yield
    except ProviderError as exc:
        if str(exc).startswith(f"cluster {cluster.name}:"):
            raise
        raise ProviderError(f"cluster {cluster.name}: {exc}") from None
