from dokaseca.testing import ProviderContract


class TestContract(ProviderContract):
    plugin_module = "dokaseca_azure.plugin"
    provider_name = "azure"
    sample_config = {
        "subscriptionId": "0b8f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
        "resourceGroup": "platform-prod",
        "vmSize": "Standard_D4s_v5",
        "osDisk": {"sizeGb": 100, "type": "Premium_LRS"},
        "availabilityZones": ["1", "2"],
        "vnet": {"name": "platform-vnet", "cidrBlocks": ["10.0.0.0/8"]},
        "subnets": {
            "controlPlane": {"name": "cp", "cidrBlocks": ["10.0.0.0/16"]},
            "node": {"name": "nodes", "cidrBlocks": ["10.1.0.0/16"]},
        },
        "apiEndpoint": "private",
        "additionalTags": {"team": "platform"},
        "identity": {
            "type": "ServicePrincipal",
            "clientId": "5d1c9f3e-7a2b-4c8d-9e0f-1a2b3c4d5e6f",
            "tenantId": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "secretName": "platform-sp",
        },
        "cloudProviderIdentityId": (
            "/subscriptions/0b8f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d/resourceGroups/identities"
            "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cloud-provider"
        ),
        "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com",
        # One block for both flavors, as a fleet's defaults would hold it.
        "aks": {
            "systemPools": ["general"],
            "skuTier": "Standard",
            "networkPolicy": "cilium",
            "networkDataplane": "cilium",
            "outboundType": "managedNATGateway",
            "maxPods": 60,
            "osDiskType": "Managed",
            "identityId": (
                "/subscriptions/0b8f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d/resourceGroups/identities"
                "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks-control-plane"
            ),
        },
    }
    region = "westeurope"
    crd_folders = ("capi", "capz")
