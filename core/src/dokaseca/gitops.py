"""What the GitOps engines need from the core: the cluster's merged GitOps Bridge metadata."""

from __future__ import annotations

from typing import Optional

from dokaseca.models import ClusterSpec, GitOpsMetadata, InfraResult
from dokaseca.plugins import PluginHost


def cluster_metadata(host: PluginHost, cluster: ClusterSpec, infra: Optional[InfraResult] = None) -> GitOpsMetadata:
    """Merge every plugin's ``gitops_metadata``; installed plugins answer
    before the core's defaults, and the first to set a key wins."""
    provider = host.provider(cluster.provider)
    merged = GitOpsMetadata()
    for contribution in host.hook.gitops_metadata(cluster=cluster, provider=provider, infra=infra or InfraResult()):
        merged = merged.merged_under(contribution)
    return merged
