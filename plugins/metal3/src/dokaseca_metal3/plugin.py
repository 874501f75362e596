"""Hook implementations of the Metal3 (bare-metal) provider. Imports no Kubernetes SDK."""

from __future__ import annotations

from typing import Any

from dokaseca import hookimpl
from dokaseca.models import ClusterSpec, InfraResult, ProviderInfo, ProviderManifests

from dokaseca_metal3 import manifests
from dokaseca_metal3.config import Metal3Config
from dokaseca_metal3.manifests import UUID_NODE_LABEL

PROVIDER = "metal3"

# cloud-init user that receives metal3.sshAuthorizedKeys (passwordless sudo, as in
# the other CAPI providers' templates).
SSH_USER = "metal3"


@hookimpl
def register_providers(register) -> None:
    register(
        ProviderInfo(
            name=PROVIDER,
            config_type=Metal3Config,
            flavors=("kubeadm",),
            # prepare (registering BareMetalHosts) talks to the management cluster.
            sdk_modules=("kubernetes",),
            capi_provider="metal3",
            requires_region=False,
            description="Bare-metal servers through Cluster API Provider Metal3 (CAPM3) and the Bare Metal Operator",
            docs_url="https://book.metal3.io/",
        )
    )


@hookimpl
def render_provider_manifests(cluster: ClusterSpec, provider: ProviderInfo, infra: InfraResult) -> ProviderManifests | None:
    if provider.name != PROVIDER:
        return None
    return manifests.render(cluster, infra)


@hookimpl
def modify_manifests(cluster: ClusterSpec, manifests: list[dict[str, Any]]) -> None:
    """Finish the kubeadm objects where KubeadmSettings cannot say enough yet.

    - SSH keys: KubeadmSettings has no ``users``, so they are added here.
    - The ``metal3.io/uuid`` node label: the core replaces a provider's
      ``node-labels`` kubelet flag with the pool's labels instead of joining
      them; without that label CAPM3 never finds the Node, never sets its
      providerID, and the Machine never becomes ready.

    Both steps leave objects that already have what they add untouched, so
    they keep working once the core handles this itself.
    """
    if cluster.provider != PROVIDER:
        return
    config: Metal3Config = cluster.provider_config
    for obj in manifests:
        for spec in _kubeadm_config_specs(obj):
            if config.ssh_authorized_keys:
                _add_ssh_user(spec, config.ssh_authorized_keys)
            for registration in _node_registrations(spec):
                _keep_uuid_node_label(registration)


def _kubeadm_config_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    kind, spec = obj.get("kind"), obj.get("spec", {})
    if kind == "KubeadmControlPlane":
        return [spec.get("kubeadmConfigSpec", {})]
    if kind == "KubeadmControlPlaneTemplate":
        return [spec.get("template", {}).get("spec", {}).get("kubeadmConfigSpec", {})]
    if kind == "KubeadmConfigTemplate":
        return [spec.get("template", {}).get("spec", {})]
    return []


def _add_ssh_user(spec: dict[str, Any], keys: tuple[str, ...]) -> None:
    users = spec.setdefault("users", [])
    if not any(user.get("name") == SSH_USER for user in users):
        users.append({"name": SSH_USER, "sshAuthorizedKeys": list(keys), "sudo": "ALL=(ALL) NOPASSWD:ALL"})


def _node_registrations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        spec[phase]["nodeRegistration"]
        for phase in ("initConfiguration", "joinConfiguration")
        if "nodeRegistration" in spec.get(phase, {})
    ]


def _keep_uuid_node_label(registration: dict[str, Any]) -> None:
    kubelet_args = registration.setdefault("kubeletExtraArgs", [])
    for arg in kubelet_args:
        if arg.get("name") == "node-labels":
            labels = [label for label in str(arg.get("value", "")).split(",") if label]
            if UUID_NODE_LABEL not in labels:
                arg["value"] = ",".join([UUID_NODE_LABEL, *labels])
            return
    kubelet_args.append({"name": "node-labels", "value": UUID_NODE_LABEL})
    kubelet_args.sort(key=lambda arg: arg.get("name", ""))
