from dokaseca.testing import ProviderContract


class TestContract(ProviderContract):
    plugin_module = "dokaseca_vsphere.plugin"
    provider_name = "vsphere"
    sample_config = {
        "server": "vcenter.example.com",
        "thumbprint": "5D:01:06:63:55:9D:DF:FE:38:81:6E:2C:FA:71:BC:63:82:C5:41:51",
        "datacenter": "dc1",
        "datastore": "vsanDatastore",
        "network": "k8s-nodes",
        "resourcePool": "/dc1/host/cluster1/Resources/kubernetes",
        "folder": "/dc1/vm/kubernetes",
        "template": "ubuntu-2404-kube-v1.33.1",
        "storagePolicy": "vSAN Default Storage Policy",
        "cloneMode": "linkedClone",
        "controlPlaneEndpoint": "10.20.0.10",
        "numCPUs": 4,
        "memoryMiB": 16384,
        "diskGiB": 40,
        "sizes": {"large": {"numCPUs": 8, "memoryMiB": 32768, "diskGiB": 100}},
        "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com"],
        "identity": {"kind": "VSphereClusterIdentity", "name": "vcenter-prod", "secretName": "vcenter-prod-credentials"},
    }
    region = None
    crd_folders = ("capi", "capv")
