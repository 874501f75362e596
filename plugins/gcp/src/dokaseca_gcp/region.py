"""The cluster's region and zones, as the project sees them: one read call per
region, and the first test of the credentials and the project."""

from __future__ import annotations

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.validators import did_you_mean

from dokaseca_gcp.config import GcpConfig
from dokaseca_gcp.session import Gcp, last_segment

_regions = Once()


def check_region(gcp: Gcp, cluster: ClusterSpec) -> list[str]:
    """The zones of the cluster's region; a region the project does not have, or
    a listed zone outside it, is an error naming the field."""
    config: GcpConfig = cluster.provider_config
    regions = gcp.compute("regions")
    found = _regions.value((gcp.project, gcp.region), lambda: gcp.find(regions.get, project=gcp.project, region=gcp.region))
    if found is None:
        names = [r.name for r in gcp.call(regions.list, project=gcp.project)]
        raise ProviderError(
            f"cluster {cluster.name}: region {gcp.region!r} is not a Compute Engine region of project {gcp.project}; "
            f"{did_you_mean(gcp.region, names)}"
        )
    zones = sorted(last_segment(zone) for zone in found.zones)
    for index, zone in enumerate(config.zones):
        if zone not in zones:
            raise ProviderError(
                f"cluster {cluster.name}: gcp.zones[{index}] {zone!r} is not a zone of {gcp.region} in project {gcp.project}; "
                f"{did_you_mean(zone, zones)}"
            )
    return zones
