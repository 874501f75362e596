"""CAPV objects for one cluster: pure functions of the cluster's settings.

CAPV v1.16 serves v1beta1 and v1beta2 and stores v1beta2, so that is what we
render. The API server VIP is served by kube-vip as a static pod on the
control-plane nodes, as in CAPV's cluster templates.

``infra.outputs`` (filled by ``prepare`` later) wins over the fleet file for
``control_plane_endpoint``, ``thumbprint``, ``template``, ``datacenter``,
``datastore``, ``folder``, ``resource_pool``, ``network`` and ``storage_policy``.
"""

from __future__ import annotations

from typing import Any, Optional

from dokaseca import kube_vip
from dokaseca.manifests import k8s_object, template_object
from dokaseca.models import ClusterSpec, InfraResult, KubeadmSettings, ProviderManifests

from dokaseca_vsphere.config import VSphereConfig

CAPV_VERSION = "infrastructure.cluster.x-k8s.io/v1beta2"
API_SERVER_PORT = kube_vip.API_SERVER_PORT  # where kube-vip serves the VIP

# The VM's name, which CAPV hands to cloud-init as the hostname; the node
# registers under it, so Machine, VM and Node share one name.
NODE_NAME = "{{ local_hostname }}"
SSH_USER = "capv"  # as in CAPV's templates


# Every node: make the VM's hostname its own and resolvable without DNS, so
# kubelet registers and reaches itself under the name CAPV gave the VM.
HOSTNAME_COMMANDS = (
    'hostnamectl set-hostname "{{ ds.meta_data.hostname }}"',
    'echo "::1         ipv6-localhost ipv6-loopback localhost6 localhost6.localdomain6" >/etc/hosts',
    (
        'echo "127.0.0.1   {{ ds.meta_data.hostname }} {{ local_hostname }} '
        'localhost localhost.localdomain localhost4 localhost4.localdomain4" >>/etc/hosts'
    ),
)


def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    config: VSphereConfig = cluster.provider_config
    endpoint = _value(infra, config, "control_plane_endpoint")
    cluster_spec = _cluster_spec(cluster, config, infra, endpoint)
    if cluster.mode == "clusterclass":
        # A template too: immutable, so named after its content like the machine templates.
        template_spec = {"template": {"spec": cluster_spec}}
        infra_cluster = template_object(CAPV_VERSION, "VSphereClusterTemplate", cluster.name, cluster.namespace, template_spec)
    else:
        infra_cluster = k8s_object(CAPV_VERSION, "VSphereCluster", cluster.name, cluster.namespace, spec=cluster_spec)
    control_plane = _machine_template(cluster, infra, f"{cluster.name}-control-plane", cluster.control_plane.machine_size)
    workers = {pool.name: _machine_template(cluster, infra, f"{cluster.name}-{pool.name}", pool.machine_size) for pool in cluster.workers}
    return ProviderManifests(
        infrastructure_cluster=infra_cluster,
        control_plane_machine_template=control_plane,
        worker_machine_templates=workers,
        extra=tuple(_identity(config)),
        kubeadm=KubeadmSettings(
            kubelet_args={"cloud-provider": "external"},
            controller_manager_args={"cloud-provider": "external"},
            node_name=NODE_NAME,
            # Services of type LoadBalancer get their addresses from kube-vip too, as in CAPV's template.
            control_plane_files=kube_vip.control_plane_files(endpoint, config.kube_vip_version, load_balance_services=True),
            pre_kubeadm_commands=HOSTNAME_COMMANDS,
            control_plane_pre_kubeadm_commands=kube_vip.PRE_KUBEADM_COMMANDS,
            control_plane_post_kubeadm_commands=kube_vip.POST_KUBEADM_COMMANDS,
            users=_users(config),
        ),
    )


def _value(infra: InfraResult, config: VSphereConfig, name: str) -> Any:
    return infra.outputs.get(name) or getattr(config, name)


def _thumbprint(infra: InfraResult, config: VSphereConfig) -> Optional[str]:
    # govmomi compares thumbprints with its own upper-case rendering, byte for byte.
    thumbprint = _value(infra, config, "thumbprint")
    return thumbprint.upper() if thumbprint else None


def _cluster_spec(cluster: ClusterSpec, config: VSphereConfig, infra: InfraResult, endpoint: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "server": config.server,
        "controlPlaneEndpoint": {"host": endpoint, "port": API_SERVER_PORT},
        "identityRef": _identity_ref(cluster, config),
    }
    thumbprint = _thumbprint(infra, config)
    if thumbprint:
        spec["thumbprint"] = thumbprint
    return spec


# -- machines ---------------------------------------------------------------------


def machine_shape(config: VSphereConfig, size_name: Optional[str]) -> tuple[int, int, int]:
    """``(numCPUs, memoryMiB, diskGiB)`` of a named size, the block's defaults filling its gaps.

    The size comes from the fleet file only, and ``check_cluster`` has already
    reported a name that ``vsphere.sizes`` does not define.
    """
    if size_name is None:
        return config.num_cpus, config.memory_mib, config.disk_gib
    size = config.sizes[size_name]
    return (
        config.num_cpus if size.num_cpus is None else size.num_cpus,
        config.memory_mib if size.memory_mib is None else size.memory_mib,
        config.disk_gib if size.disk_gib is None else size.disk_gib,
    )


def _machine_template(cluster: ClusterSpec, infra: InfraResult, base_name: str, size_name: Optional[str]) -> dict[str, Any]:
    """A VSphereMachineTemplate named ``<base_name>-<digest of its spec>``: CAPV refuses
    changes to a template, so a changed shape or placement is a new template."""
    config: VSphereConfig = cluster.provider_config
    num_cpus, memory_mib, disk_gib = machine_shape(config, size_name)
    machine: dict[str, Any] = {"server": config.server}
    # Unset placement fields let vCenter use its defaults (CRD: empty strings are invalid).
    for key, field in (("datacenter", "datacenter"), ("datastore", "datastore"), ("folder", "folder"), ("resourcePool", "resource_pool")):
        value = _value(infra, config, field)
        if value:
            machine[key] = value
    storage_policy = _value(infra, config, "storage_policy")
    if storage_policy:
        machine["storagePolicyName"] = storage_policy
    machine.update(
        {
            "template": _value(infra, config, "template"),
            "cloneMode": config.clone_mode,
            "numCPUs": num_cpus,
            "memoryMiB": memory_mib,
            "diskGiB": disk_gib,
            "network": {"devices": [{"networkName": _value(infra, config, "network"), "dhcp4": True, "dhcp6": False}]},
            "os": "Linux",
            # Ask the guest to shut down (VMware Tools), power off if it does not.
            "powerOffMode": "trySoft",
        }
    )
    spec = {"template": {"spec": machine}}
    return template_object(CAPV_VERSION, "VSphereMachineTemplate", base_name, cluster.namespace, spec)


def _users(config: VSphereConfig) -> tuple[dict[str, Any], ...]:
    if not config.ssh_authorized_keys:
        return ()
    return ({"name": SSH_USER, "sshAuthorizedKeys": list(config.ssh_authorized_keys), "sudo": "ALL=(ALL) NOPASSWD:ALL"},)


# -- credentials (referenced, never rendered) ---------------------------------------


def _identity_ref(cluster: ClusterSpec, config: VSphereConfig) -> dict[str, str]:
    identity = config.identity
    if identity.kind == "Secret":
        # CAPV's convention: a Secret named after the cluster, in its namespace.
        return {"kind": "Secret", "name": identity.name or cluster.name}
    return {"kind": "VSphereClusterIdentity", "name": identity.name or ""}  # name is required for this kind


def _identity(config: VSphereConfig) -> list[dict[str, Any]]:
    identity = config.identity
    if identity.kind != "VSphereClusterIdentity" or not identity.name:
        return []
    if identity.allowed_namespaces:
        selector: dict[str, Any] = {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(set(identity.allowed_namespaces))}
            ]
        }
    else:
        selector = {"matchLabels": {}}  # every namespace, as in CAPV's identity docs (no selector would mean none)
    spec = {"secretName": identity.secret_name or identity.name, "allowedNamespaces": {"selector": selector}}
    return [k8s_object(CAPV_VERSION, "VSphereClusterIdentity", identity.name, spec=spec)]
