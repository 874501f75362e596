from dokaseca.testing import ProviderContract


class TestContract(ProviderContract):
    plugin_module = "dokaseca_metal3.plugin"
    provider_name = "metal3"
    sample_config = {
        "controlPlaneEndpoint": "172.16.10.5",
        "image": {
            "url": "https://images.example.com/ubuntu-2404-kube-v1.33.1.qcow2",
            "checksum": "https://images.example.com/ubuntu-2404-kube-v1.33.1.qcow2.sha256sum",
            "checksumType": "sha256",
            "format": "qcow2",
        },
        "kubeVipVersion": "v1.0.4",
        "hostSelectors": {"controlPlane": {"rack": "r1"}, "batch": {"example.com/cpu": "epyc"}},
        "network": {
            "mode": "static",
            "interface": "enp1s0",
            "ipPool": {
                "start": "172.16.10.100",
                "end": "172.16.10.200",
                "prefix": 24,
                "gateway": "172.16.10.1",
                "dnsServers": ["172.16.10.2"],
            },
        },
        "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com"],
    }
    region = None
    crd_folders = ("capi", "capm3", "ipam-metal3")
