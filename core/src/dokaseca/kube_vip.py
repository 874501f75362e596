"""kube-vip as a static pod on control-plane nodes: the API server's virtual IP
where no cloud load balancer exists (vSphere, bare metal).

The pod announces the VIP with ARP (layer 2, no BGP peer needed) and moves it
to another control-plane node by leader election. From Kubernetes 1.29 the
``admin.conf`` kubeadm writes only gets its rights once the API server answers
behind the VIP kube-vip has yet to announce (kube-vip/kube-vip#684), so on the
node that runs ``kubeadm init`` the pod uses ``super-admin.conf`` until init
is done, then goes back to ``admin.conf``: ``system:masters`` credentials
should not stay mounted in a long-running pod.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from dokaseca.manifests import dump_all
from dokaseca.validators import InvalidValue

IMAGE = "ghcr.io/kube-vip/kube-vip"
DEFAULT_VERSION = "v1.0.4"
MANIFEST = "/etc/kubernetes/manifests/kube-vip.yaml"
HOSTS = "/etc/kube-vip.hosts"
PREPARE_SCRIPT = "/etc/pre-kubeadm-commands/50-kube-vip-prepare.sh"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_KUBECONFIG = "/etc/kubernetes/super-admin.conf"
API_SERVER_PORT = 6443
_RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")


def release_tag(instance: Any, attribute: Any, value: str) -> None:
    """attrs validator of a provider's ``kubeVipVersion`` field."""
    if not _RELEASE_TAG.match(value):
        raise InvalidValue("is not a kube-vip release tag", value, f"write it as vMAJOR.MINOR.PATCH, e.g. '{DEFAULT_VERSION}'")


def static_pod(endpoint: str, version: str, *, load_balance_services: bool = False) -> dict[str, Any]:
    """The kube-vip Pod serving ``endpoint`` (an IP address) on port 6443.

    :param load_balance_services: also announce addresses of Services of
        type LoadBalancer (as CAPV's template does); off where an add-on owns that.
    """
    env = {
        "vip_arp": "true",
        "port": str(API_SERVER_PORT),
        "vip_cidr": str(ipaddress.ip_address(endpoint).max_prefixlen),
        "cp_enable": "true",
        "cp_namespace": "kube-system",
        "vip_ddns": "false",
    }
    if load_balance_services:
        # Each Service elects its own leader, spreading them over the nodes.
        env.update(svc_enable="true", svc_leasename="plndr-svcs-lock", svc_election="true")
    env.update(
        vip_leaderelection="true",
        vip_leasename="plndr-cp-lock",
        vip_leaseduration="15",
        vip_renewdeadline="10",
        vip_retryperiod="2",
        address=endpoint,
        prometheus_server=":2112",
    )
    # No vip_interface: kube-vip takes the interface of the default route.
    container = {
        "name": "kube-vip",
        "image": f"{IMAGE}:{version}",
        "imagePullPolicy": "IfNotPresent",
        "args": ["manager"],
        "env": [{"name": name, "value": value} for name, value in env.items()],
        "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
        "volumeMounts": [
            {"name": "kubeconfig", "mountPath": ADMIN_KUBECONFIG},
            {"name": "etchosts", "mountPath": "/etc/hosts"},
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system"},
        "spec": {
            "hostNetwork": True,
            "containers": [container],
            "volumes": [
                {"name": "kubeconfig", "hostPath": {"path": ADMIN_KUBECONFIG}},
                {"name": "etchosts", "hostPath": {"path": HOSTS, "type": "File"}},
            ],
        },
    }


def control_plane_files(endpoint: str, version: str, *, load_balance_services: bool = False) -> tuple[dict[str, Any], ...]:
    """KubeadmConfigSpec ``files`` for control-plane nodes: the pod, its hosts file, the prepare script."""
    manifest = dump_all([static_pod(endpoint, version, load_balance_services=load_balance_services)]).removeprefix("---\n")
    return (
        {"path": MANIFEST, "owner": "root:root", "permissions": "0644", "content": manifest},
        # kube-vip reaches the API server as https://kubernetes:6443; on a
        # control-plane node that must be the local API server, not the VIP
        # kube-vip itself is about to announce.
        {"path": HOSTS, "owner": "root:root", "permissions": "0644", "content": "127.0.0.1 localhost kubernetes\n"},
        {"path": PREPARE_SCRIPT, "owner": "root:root", "permissions": "0700", "content": _prepare_script()},
    )


def _prepare_script() -> str:
    # CABPK writes /run/kubeadm/kubeadm.yaml only on the init node; joining
    # nodes keep admin.conf. The version is the kubeadm the image ships.
    return (
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        'minor="$(kubeadm version -o short | cut -d. -f2)"\n'
        'if [[ "$minor" -ge 29 && -f /run/kubeadm/kubeadm.yaml ]]; then\n'
        f"  sed -i 's#path: {ADMIN_KUBECONFIG}#path: {SUPER_ADMIN_KUBECONFIG}#' {MANIFEST}\n"
        "fi\n"
    )


# Control-plane preKubeadmCommands / postKubeadmCommands that go with the files.
PRE_KUBEADM_COMMANDS = (PREPARE_SCRIPT,)
POST_KUBEADM_COMMANDS = (f"sed -i 's#path: {SUPER_ADMIN_KUBECONFIG}#path: {ADMIN_KUBECONFIG}#' {MANIFEST}",)
