"""The EC2 key pair CAPA puts on the machines (``aws.sshKeyName``)."""

from __future__ import annotations

from typing import Optional

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once

from dokaseca_aws.config import AwsConfig
from dokaseca_aws.session import Aws, absent, exists_ok
from dokaseca_aws.tags import OWNER, OWNER_KEY, key_values

_key_pairs = Once()


def ensure_key_pair(aws: Aws, cluster: ClusterSpec, changes: Changes) -> Optional[str]:
    """Import ``aws.sshPublicKey`` as ``aws.sshKeyName`` when missing; never replace a
    key pair. With only the name, the key pair must already exist."""
    config: AwsConfig = cluster.provider_config
    if not config.ssh_key_name:
        return None
    key = (aws.account_id, aws.region, config.ssh_key_name, config.ssh_public_key)
    return changes.once(_key_pairs, key, lambda mine: _ensure(aws, cluster, config, mine))


def _ensure(aws: Aws, cluster: ClusterSpec, config: AwsConfig, changes: Changes) -> str:
    ec2 = aws.client("ec2")
    name = config.ssh_key_name
    assert name is not None
    found = absent(ec2.describe_key_pairs, ("InvalidKeyPair.NotFound",), KeyNames=[name], IncludePublicKey=True)
    pair = found["KeyPairs"][0] if found and found["KeyPairs"] else None
    wanted = config.ssh_public_key
    if pair is None and not wanted:
        raise ProviderError(
            f"cluster {cluster.name}: EC2 key pair {name!r} (aws.sshKeyName) does not exist in {aws.region}; "
            "set aws.sshPublicKey to have prepare import it, or import it yourself: "
            f"`aws ec2 import-key-pair --region {aws.region} --key-name {name} --public-key-material fileb://~/.ssh/id_ed25519.pub`"
        )
    if pair is None:
        changes.make(
            f"import EC2 key pair {name}",
            exists_ok(ec2.import_key_pair, ("InvalidKeyPair.Duplicate",)),
            KeyName=name,
            PublicKeyMaterial=wanted.encode(),
            TagSpecifications=[{"ResourceType": "key-pair", "Tags": key_values({OWNER_KEY: OWNER})}],
        )
    elif wanted and pair.get("PublicKey") and _key_body(pair["PublicKey"]) != _key_body(wanted):
        raise ProviderError(
            f"cluster {cluster.name}: EC2 key pair {name!r} in {aws.region} holds a different public key than aws.sshPublicKey; "
            "prepare never replaces a key pair (machines may depend on it). Use another aws.sshKeyName, "
            f"or delete the old one first (`aws ec2 delete-key-pair --region {aws.region} --key-name {name}`)"
        )
    return name


def _key_body(public_key: str) -> tuple[str, ...]:
    """Type and key data; the comment does not matter (AWS replaces it)."""
    return tuple(public_key.split()[:2])
