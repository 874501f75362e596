from dokaseca.testing import ProviderContract


class TestContract(ProviderContract):
    plugin_module = "dokaseca_gcp.plugin"
    provider_name = "gcp"
    # One block for both flavors (kubeadm, gke), as a fleet's defaults would hold it.
    # Two zones: the contract's 2-node pool spreads evenly over them on GKE.
    sample_config = {
        "project": "acme-platform-prod",
        "network": {
            "name": "platform",
            "autoCreateSubnetworks": False,
            "subnets": [{"name": "nodes", "cidrBlock": "10.10.0.0/20"}],
        },
        "zones": ["europe-west1-b", "europe-west1-c"],
        "loadBalancer": {"type": "Internal", "internalAccess": "Global", "subnet": "nodes"},
        "machineType": "n2-standard-4",
        "image": "projects/acme-images/global/images/family/capi-ubuntu-2404-k8s-v1-33",
        "rootDeviceSize": 100,
        "serviceAccount": {"email": "capg-nodes@acme-platform-prod.iam.gserviceaccount.com"},
        "additionalLabels": {"team": "platform"},
        "credentialsRef": {"name": "capg-prod-credentials"},
        "gke": {
            "imageType": "COS_CONTAINERD",
            "private": {"endpoint": True, "controlPlaneCidr": "172.16.0.0/28", "globalAccess": True},
            "authorizedNetworks": [{"cidr": "10.0.0.0/8", "name": "corp"}],
            "googlePublicCidrsAccess": False,
        },
    }
    region = "europe-west1"
    crd_folders = ("capi", "capg")
