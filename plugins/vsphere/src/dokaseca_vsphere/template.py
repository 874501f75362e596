"""The VM template a cluster clones: it must exist, be a template, and carry
the cluster's Kubernetes version.

CAPV's images (image-builder OVAs) say their version three ways: the vApp
property ``KUBERNETES_SEMVER`` (``v1.33.1``), the name
(``ubuntu-2404-kube-v1.33.1``) and the annotation. The first that names a
version is believed; a template that names none is taken as it is.
"""

from __future__ import annotations

import re
from typing import Optional

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec

from dokaseca_vsphere.inventory import VIRTUAL_MACHINE, Inventory
from dokaseca_vsphere.session import Vcenter, VmConfig

VERSION_PROPERTY = "KUBERNETES_SEMVER"
_IN_TEXT = re.compile(r"(?<![A-Za-z0-9.])v(\d+\.\d+\.\d+)(?!\d)")
_PROPERTY = re.compile(r"^v?(\d+\.\d+\.\d+)(?!\d)")
# CAPV also takes a template's instance UUID instead of its name.
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def carried_versions(name: str, vm: VmConfig) -> Optional[tuple[str, frozenset[str]]]:
    """``(where it says so, {"v1.33.1"})``, or None when the template names no version."""
    semver = _PROPERTY.match(vm.properties.get(VERSION_PROPERTY, "").strip())
    if semver:
        return f"its vApp property {VERSION_PROPERTY}", frozenset({f"v{semver.group(1)}"})
    for where, text in (("its name", name), ("its annotation", vm.annotation)):
        found = frozenset(f"v{v}" for v in _IN_TEXT.findall(text))
        if found:
            return where, found
    return None


def check(vcenter: Vcenter, inventory: Inventory, cluster: ClusterSpec, moid: str, name: str, shown: str, vm_folder: str) -> None:
    """Raise unless the VM ``moid`` is a template of the cluster's Kubernetes version;
    ``shown`` is how to name it, ``vm_folder`` the datacenter's (for a better choice)."""
    vm = vcenter.vm_config(moid)
    where = f"cluster {cluster.name}: vsphere.template {shown!r}"
    if not vm.template:
        raise ProviderError(
            f"{where} is a virtual machine, not a template; CAPV clones templates: mark it as one "
            f"(`govc vm.markastemplate {shown}`) or name a template"
        )
    carried = carried_versions(name, vm)
    wanted = cluster.kubernetes_version
    if carried is None or wanted in carried[1]:
        return
    source, versions = carried
    # By the version its name carries, not a substring: v1.33.1 is not v1.33.10.
    others = sorted(inventory.path(e.moid) for e in inventory.below(vm_folder, VIRTUAL_MACHINE) if wanted.removeprefix("v") in _IN_TEXT.findall(e.name))
    instead = f"; {others[0]!r} looks like one" if others else ""
    raise ProviderError(
        f"{where} carries Kubernetes {', '.join(sorted(versions))} ({source}), but the cluster runs {wanted} (kubernetesVersion); "
        f"kubeadm on the image must match: set vsphere.template to a template built for {wanted}{instead} "
        f"(image-builder names them like 'ubuntu-2404-kube-{wanted}'), or set kubernetesVersion to the template's"
    )
