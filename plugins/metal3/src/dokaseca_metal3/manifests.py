"""CAPM3 objects for one cluster: pure functions of the cluster's settings.

CAPM3 v1.13 serves v1beta1 and v1beta2 and stores v1beta2, so that is what
we render (the image format field is ``diskFormat`` there, ``format`` in
v1beta1 templates). IP pools come from the Metal3 IP Address Manager.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping, Optional

from dokaseca import kube_vip
from dokaseca.builtin.standard_labels import ENVIRONMENT_LABEL
from dokaseca.errors import ProviderError
from dokaseca.manifests import k8s_object, template_object
from dokaseca.models import ClusterSpec, InfraResult, KubeadmSettings, ProviderManifests

from dokaseca_metal3 import checks
from dokaseca_metal3.config import CONTROL_PLANE_SELECTOR, Metal3Config, Metal3IPPool
from dokaseca_metal3.labels import MACHINE_SIZE_LABEL, ROLE_LABEL

CAPM3_VERSION = "infrastructure.cluster.x-k8s.io/v1beta2"
IPAM_VERSION = "ipam.metal3.io/v1alpha1"
API_SERVER_PORT = kube_vip.API_SERVER_PORT  # where kube-vip serves the VIP

# As in CAPM3's cluster templates: no cloud controller manager on bare metal.
# Instead CAPM3 finds each Node by this label (the BareMetalHost's UID, from
# the config drive) and sets its providerID itself (cloudProviderEnabled: false).
UUID_NODE_LABEL = "metal3.io/uuid={{ ds.meta_data.uuid }}"
NODE_NAME = "{{ ds.meta_data.name }}"  # the BareMetalHost's name (BMO's default metadata)



def render(cluster: ClusterSpec, infra: InfraResult) -> ProviderManifests:
    config: Metal3Config = cluster.provider_config
    endpoint = _endpoint(cluster, config, infra)
    cluster_spec = {
        "controlPlaneEndpoint": {"host": endpoint, "port": API_SERVER_PORT},
        "cloudProviderEnabled": False,
    }
    if cluster.mode == "clusterclass":
        template = {"template": {"spec": cluster_spec}}
        infra_cluster = template_object(CAPM3_VERSION, "Metal3ClusterTemplate", cluster.name, cluster.namespace, template)
    else:
        infra_cluster = k8s_object(CAPM3_VERSION, "Metal3Cluster", cluster.name, cluster.namespace, spec=cluster_spec)

    static = config.network.ip_pool if config.network.mode == "static" else None
    pool = _ip_pool(cluster, static) if static is not None else None
    # Named first: its versioned name is part of every machine template's spec,
    # so a change of the network data gives the machine templates new names too.
    data_template = _data_template(cluster, config, pool)
    selectors = host_selectors(cluster)
    control_plane = _machine_template(
        cluster, f"{cluster.name}-control-plane", selector=selectors[CONTROL_PLANE_SELECTOR], data_template=data_template
    )
    workers = {
        pool_spec.name: _machine_template(
            cluster, f"{cluster.name}-{pool_spec.name}", selector=selectors[pool_spec.name], data_template=data_template
        )
        for pool_spec in cluster.workers
    }
    extra = (data_template,) if pool is None else (pool, data_template)
    return ProviderManifests(
        infrastructure_cluster=infra_cluster,
        control_plane_machine_template=control_plane,
        worker_machine_templates=workers,
        extra=extra,
        kubeadm=KubeadmSettings(
            kubelet_args={"node-labels": UUID_NODE_LABEL},
            node_name=NODE_NAME,
            # Services of type LoadBalancer are left to an add-on (MetalLB and the like).
            control_plane_files=kube_vip.control_plane_files(endpoint, config.kube_vip_version),
            control_plane_pre_kubeadm_commands=kube_vip.PRE_KUBEADM_COMMANDS,
            control_plane_post_kubeadm_commands=kube_vip.POST_KUBEADM_COMMANDS,
            users=_users(config),
        ),
    )


def _endpoint(cluster: ClusterSpec, config: Metal3Config, infra: InfraResult) -> str:
    """The VIP: prepare's output when there is one, else the fleet file's.

    check_cluster has checked the fleet file's endpoint when the fleet was
    loaded; one from prepare's outputs is checked here, with the same rules.
    """
    from_infra = infra.outputs.get("control_plane_endpoint")
    if not from_infra:
        return config.control_plane_endpoint
    found = checks.endpoint_problems(cluster, config, str(from_infra), source="control_plane_endpoint (prepare's output)")
    if found:
        raise ProviderError(f"cluster {cluster.name!r}: " + "; ".join(str(problem) for problem in found))
    return str(from_infra)


# cloud-init user that receives metal3.sshAuthorizedKeys (passwordless sudo, as in
# the other CAPI providers' templates).
SSH_USER = "metal3"


def _users(config: Metal3Config) -> tuple[dict[str, Any], ...]:
    if not config.ssh_authorized_keys:
        return ()
    return ({"name": SSH_USER, "sshAuthorizedKeys": list(config.ssh_authorized_keys), "sudo": "ALL=(ALL) NOPASSWD:ALL"},)


def host_selector(cluster: ClusterSpec, role: str, size: Optional[str], selector: Mapping[str, str]) -> dict[str, Any]:
    """Which BareMetalHosts a machine template may take: same environment, same role, the pool's own labels."""
    labels = {ENVIRONMENT_LABEL: cluster.environment, ROLE_LABEL: role}
    if size:  # a label value: checked by check_cluster (and metal3.machineSize by its validator)
        labels[MACHINE_SIZE_LABEL] = size
    labels.update(sorted(selector.items()))
    return {"matchLabels": labels}


def host_selectors(cluster: ClusterSpec) -> dict[str, dict[str, Any]]:
    """The host selector of the control plane ("controlPlane") and of each worker pool (by name).

    Render puts them in the machine templates, prepare counts the hosts they match.
    """
    config: Metal3Config = cluster.provider_config

    def selector(name: str, role: str, size: Optional[str]) -> dict[str, Any]:
        return host_selector(cluster, role, size or config.machine_size, config.host_selectors.get(name, {}))

    selectors = {CONTROL_PLANE_SELECTOR: selector(CONTROL_PLANE_SELECTOR, "control-plane", cluster.control_plane.machine_size)}
    selectors.update((pool.name, selector(pool.name, "worker", pool.machine_size)) for pool in cluster.workers)
    return selectors


def _machine_template(
    cluster: ClusterSpec, name: str, *, selector: Mapping[str, Any], data_template: Mapping[str, Any]
) -> dict[str, Any]:
    config: Metal3Config = cluster.provider_config
    image: dict[str, Any] = {"url": config.image.url, "checksum": config.image.checksum, "checksumType": config.image.checksum_type}
    if config.image.format:
        image["diskFormat"] = config.image.format
    machine = {
        # Wipe only the metadata between uses, as CAPM3's templates do: full
        # disk cleaning can take hours on large disks.
        "automatedCleaningMode": "metadata",
        "dataTemplate": {"name": data_template["metadata"]["name"]},
        "hostSelector": selector,
        "image": image,
    }
    spec = {"nodeReuse": False, "template": {"spec": machine}}
    return template_object(CAPM3_VERSION, "Metal3MachineTemplate", name, cluster.namespace, spec)


# -- node network ---------------------------------------------------------------


def ip_pool_name(cluster: ClusterSpec) -> str:
    # Not a template: the nodes' IP claims and the data template name the pool,
    # so its name stays the same when its ranges change.
    return f"{cluster.name}-nodes"


def _ip_pool(cluster: ClusterSpec, pool: Metal3IPPool) -> dict[str, Any]:
    name = ip_pool_name(cluster)
    addresses: dict[str, Any] = {"start": pool.start, "end": pool.end, "prefix": pool.prefix, "gateway": pool.gateway}
    if pool.dns_servers:
        addresses["dnsServers"] = list(pool.dns_servers)
    return k8s_object(
        IPAM_VERSION,
        "IPPool",
        name,
        cluster.namespace,
        # clusterName ties the pool to the cluster, so it goes when the cluster does.
        spec={"clusterName": cluster.name, "namePrefix": name, "pools": [addresses]},
    )


def _data_template(cluster: ClusterSpec, config: Metal3Config, pool: Optional[dict[str, Any]]) -> dict[str, Any]:
    """One Metal3DataTemplate for all the cluster's machines.

    With DHCP it carries no network data, so the image's own DHCP setup is
    used, as in CAPM3's clusterctl template. With static addressing each
    machine gets an address, the default route and DNS from the IPPool.
    """
    spec: dict[str, Any] = {"clusterName": cluster.name}
    settings, interface = config.network.ip_pool, config.network.interface
    if pool is not None and settings is not None and interface:  # the config requires all three for mode static
        pool_name = pool["metadata"]["name"]
        ipv6 = ipaddress.ip_address(settings.start).version == 6
        network = {
            "id": f"{interface}-static",
            "link": interface,
            "ipAddressFromIPPool": pool_name,
            "routes": [{"network": "::" if ipv6 else "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": pool_name}}],
        }
        network_data: dict[str, Any] = {
            "links": {
                "ethernets": [
                    # The MAC comes from the BareMetalHost's introspection data.
                    {"type": "phy", "id": interface, "macAddress": {"fromHostInterface": interface}}
                ]
            },
            "networks": {"ipv6" if ipv6 else "ipv4": [network]},
        }
        if settings.dns_servers:
            network_data["services"] = {"dnsFromIPPool": pool_name}
        spec["networkData"] = network_data
    # CAPM3 refuses changes to a Metal3DataTemplate's spec, so it is named after it.
    return template_object(CAPM3_VERSION, "Metal3DataTemplate", f"{cluster.name}-data", cluster.namespace, spec)
