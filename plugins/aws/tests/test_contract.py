from dokaseca.testing import ProviderContract


class TestContract(ProviderContract):
    plugin_module = "dokaseca_aws.plugin"
    provider_name = "aws"
    # One block for both flavors, as a fleet's defaults would hold it.
    sample_config = {
        "sshKeyName": "platform",
        "instanceType": "m6i.large",
        "rootVolumeSize": 80,
        "availabilityZones": ["eu-west-1a", "eu-west-1b"],
        "apiEndpoint": "private",
        "additionalTags": {"team": "platform"},
        "identity": {"kind": "static", "name": "platform", "secretName": "platform-aws-keys"},
        "eks": {"addons": [{"name": "vpc-cni", "version": "v1.19.5-eksbuild.1"}], "logging": ["apiServer", "audit"]},
    }
    region = "eu-west-1"
    crd_folders = ("capi", "capa")
