"""The firewall rules of a network prepare makes.

CAPG makes two rules per cluster (``allow-<cluster>-healthchecks``: 6443 from
Google's load-balancer and health-check ranges to the control plane;
``allow-<cluster>-cluster``: everything between the cluster's own machines),
but none in a Shared VPC, and a custom-mode network starts with no rule at
all. The network's own rules make it work whatever CAPG does:

- ``<network>-allow-internal``: every protocol between addresses of the
  network's subnets (nodes of one cluster, and of one environment, talk);
- ``<network>-allow-api-server``: TCP 6443 from 35.191.0.0/16 and
  130.211.0.0/22, where Google's proxy load balancers and health checks come
  from (CAPG's API server load balancer is one).

A rule of ours that drifted (a subnet added since, a range or port changed by
hand, the rule disabled) is patched back; a rule of that name not made by
dokaseca is never changed, and named.
"""

from __future__ import annotations

from typing import Any, Optional

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError

from dokaseca_gcp.session import Gcp

LOAD_BALANCER_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
API_SERVER_PORT = "6443"


class Rules:
    def __init__(self, gcp: Gcp, network: str, link: str, subnet_ranges: list[str], description: str, where: str) -> None:
        self.gcp = gcp
        self.where = where  # "cluster NAME: network 'NAME'", the start of an error
        self.network = network
        self.link = link
        self.description = description
        self.wanted = {
            f"{network}-allow-internal": {
                "source_ranges": sorted(set(subnet_ranges)),
                "allowed": [{"I_p_protocol": "all", "ports": []}],
                "disabled": False,
            },
            f"{network}-allow-api-server": {
                "source_ranges": sorted(LOAD_BALANCER_RANGES),
                "allowed": [{"I_p_protocol": "tcp", "ports": [API_SERVER_PORT]}],
                "disabled": False,
            },
        }

    def find(self) -> dict[str, Optional[Any]]:
        """Each rule as it is now (None: missing); one of that name made by someone else is an error."""
        firewalls = self.gcp.compute("firewalls")
        mark = self.description.split(" ", 1)[0]
        found = {}
        for name in self.wanted:
            rule = self.gcp.find(firewalls.get, project=self.gcp.project, firewall=name)
            if rule is not None and (rule.description or "").split(" ", 1)[0] != mark:
                raise ProviderError(
                    f"{self.where}: firewall rule {name!r} exists in project {self.gcp.project} and was not made by dokaseca; "
                    "prepare will not take it over. Rename or delete it, or give gcp.network.name another name"
                )
            found[name] = rule
        return found

    def converge(self, found: dict[str, Optional[Any]], changes: Changes) -> None:
        firewalls = self.gcp.compute("firewalls")
        for name, rule in self.wanted.items():
            current = found[name]
            if current is None:
                changes.make(
                    f"create firewall rule {name}",
                    self.gcp.run,
                    what=f"firewall rule {name}",
                    method=firewalls.insert_unary,
                    project=self.gcp.project,
                    firewall_resource={
                        "name": name,
                        "network": self.link,
                        "description": self.description,
                        "direction": "INGRESS",
                        "priority": 1000,
                        **rule,
                    },
                )
            elif _as_found(current) != _as_wanted(rule):
                changes.make(
                    f"bring firewall rule {name} back (sources, ports, enabled)",
                    self.gcp.run,
                    what=f"firewall rule {name}",
                    method=firewalls.patch_unary,
                    project=self.gcp.project,
                    firewall=name,
                    firewall_resource=rule,
                )


def _as_wanted(rule: dict[str, Any]) -> tuple[Any, ...]:
    allowed = sorted((a["I_p_protocol"].lower(), tuple(sorted(a["ports"]))) for a in rule["allowed"])
    return tuple(sorted(rule["source_ranges"])), tuple(allowed), rule["disabled"]


def _as_found(found: Any) -> tuple[Any, ...]:
    allowed = sorted((a.I_p_protocol.lower(), tuple(sorted(a.ports))) for a in found.allowed)
    return tuple(sorted(found.source_ranges)), tuple(allowed), bool(found.disabled)
