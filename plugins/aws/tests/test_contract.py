from dokaseca.testing import ProviderContract


class TestContract(ProviderContract):
    plugin_module = "dokaseca_aws.plugin"
    provider_name = "aws"
    sample_config = {
        "sshKeyName": "platform",
        "instanceType": "m6i.large",
        "rootVolumeSize": 80,
        "availabilityZones": ["eu-west-1a", "eu-west-1b"],
        "apiEndpoint": "private",
        "additionalTags": {"team": "platform"},
        "identity": {"kind": "static", "name": "platform", "secretName": "platform-aws-keys"},
    }
    region = "eu-west-1"
    crd_folders = ("capi", "capa")
