"""The objects that register one inventory host: its BMC Secret and its BareMetalHost. Pure."""

from __future__ import annotations

import base64
from typing import Any, Optional

import attrs

from dokaseca.builtin.standard_labels import ENVIRONMENT_LABEL, FLEET_LABEL
from dokaseca.config import yaml_key
from dokaseca.manifests import MANAGED_BY_LABEL, k8s_object
from dokaseca.models import ClusterSpec

from dokaseca_metal3.inventory import Metal3Host, RootDeviceHints
from dokaseca_metal3.labels import MACHINE_SIZE_LABEL, RACK_LABEL, ROLE_LABEL, SITE_LABEL

BMH_VERSION = "metal3.io/v1alpha1"
# On our BMC Secrets, naming their host: prepare lists them with one request.
BMC_HOST_LABEL = "dokaseca.io/bmc-host"


def secret_name(host: Metal3Host) -> str:
    return f"{host.name}-bmc-secret"


def _owner_labels(cluster: ClusterSpec) -> dict[str, str]:
    return {MANAGED_BY_LABEL: "dokaseca", FLEET_LABEL: cluster.fleet}


def bmc_secret(cluster: ClusterSpec, host: Metal3Host, username: str, password: str) -> dict[str, Any]:
    """The Secret the BareMetalHost's ``bmc.credentialsName`` names (keys as the baremetal-operator reads them)."""

    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return k8s_object(
        "v1",
        "Secret",
        secret_name(host),
        cluster.namespace,
        labels={**_owner_labels(cluster), BMC_HOST_LABEL: host.name},
        type="Opaque",
        data={"username": encoded(username), "password": encoded(password)},
    )


def host_labels(cluster: ClusterSpec, host: Metal3Host, site: Optional[str]) -> dict[str, str]:
    """What the machine templates' host selectors match on (see manifests.host_selector)."""
    labels = {**_owner_labels(cluster), ENVIRONMENT_LABEL: cluster.environment, ROLE_LABEL: host.role}
    for key, value in ((MACHINE_SIZE_LABEL, host.machine_size), (SITE_LABEL, site), (RACK_LABEL, host.rack)):
        if value:
            labels[key] = value
    labels.update(sorted(host.labels.items()))
    return labels


def _hints(hints: Optional[RootDeviceHints]) -> dict[str, Any]:
    if hints is None:
        return {}
    return {yaml_key(field): getattr(hints, field.name) for field in attrs.fields(RootDeviceHints) if getattr(hints, field.name) is not None}


def bare_metal_host(cluster: ClusterSpec, host: Metal3Host, site: Optional[str]) -> dict[str, Any]:
    """The BareMetalHost, in the cluster's namespace: CAPM3 takes hosts from its Metal3Machines' namespace.

    ``online: false``: the baremetal-operator registers and inspects the host
    all the same (it powers it on for that), then leaves it switched off until
    CAPM3 takes it and switches it on. Idle spares draw no power and run no
    agent on the provisioning network.
    """
    bmc: dict[str, Any] = {"address": host.bmc.address, "credentialsName": secret_name(host)}
    if host.bmc.disable_certificate_verification:
        bmc["disableCertificateVerification"] = True
    spec: dict[str, Any] = {"online": False, "bootMACAddress": host.boot_mac_address, "bmc": bmc}
    hints = _hints(host.root_device_hints)
    if hints:
        spec["rootDeviceHints"] = hints
    return k8s_object(BMH_VERSION, "BareMetalHost", host.name, cluster.namespace, labels=host_labels(cluster, host, site), spec=spec)
