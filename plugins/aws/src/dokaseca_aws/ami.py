"""The machine image for self-managed clusters: ``aws.amiId``, else the newest
image ``aws.amiLookup`` matches (CAPA's naming scheme, published by its account)."""

from __future__ import annotations

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once

from dokaseca_aws.config import AwsConfig
from dokaseca_aws.session import Aws

_lookups = Once()


def find_ami(aws: Aws, cluster: ClusterSpec) -> str:
    config: AwsConfig = cluster.provider_config
    if config.ami_id:
        return config.ami_id
    lookup = config.ami_lookup
    # As CAPA does: the version without its "v"; the default format's "?" matches
    # the "v" the published names carry ("capa-ami-ubuntu-24.04-?1.33.1-*").
    pattern = lookup.name_format.format(base_os=lookup.base_os, kubernetes_version=cluster.kubernetes_version.removeprefix("v"))
    key = (aws.account_id, aws.region, lookup.owner, pattern, lookup.architecture)
    image = _lookups.value(key, lambda: _newest(aws, lookup.owner, pattern, lookup.architecture))
    if image is None:
        raise ProviderError(
            f"cluster {cluster.name}: no available {lookup.architecture} AMI named {pattern!r} owned by {lookup.owner} in {aws.region}; "
            "set aws.amiId to an image of your own, or change aws.amiLookup (owner, baseOS, nameFormat) to match published images "
            "(CAPA publishes images for some Kubernetes versions and regions only: `clusterawsadm ami list`)"
        )
    return image


def _newest(aws: Aws, owner: str, pattern: str, architecture: str) -> str | None:
    pages = (
        aws.client("ec2")
        .get_paginator("describe_images")
        .paginate(
            Owners=[owner],
            Filters=[
                {"Name": "name", "Values": [pattern]},
                {"Name": "architecture", "Values": [architecture]},
                {"Name": "state", "Values": ["available"]},
            ],
        )
    )
    images = [image for page in pages for image in page["Images"]]
    # CreationDate is ISO 8601 in UTC, so text order is time order; the id breaks ties.
    return max(images, key=lambda i: (i["CreationDate"], i["ImageId"]))["ImageId"] if images else None
