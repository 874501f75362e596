"""Azure, GCP and vSphere prepare against the loopback stand-ins the tests use
(tests/support/{azure,gcp,vsphere}_stand_in.py), through the real SDKs and
`dokaseca.prepare.prepare_fleet`, the function behind `dokaseca prepare`.

For each provider, a fleet of N clusters (default 6: 3 environments x 2, so
what an environment shares is made once):

1. API calls and wall time of a first prepare (--concurrency 1) on a fresh
   stand-in, then of a second one with nothing remembered (as a new
   `dokaseca prepare` process would run it);
2. wall time of a first prepare with N clusters at a time against one at a time.

Every request to a stand-in waits LATENCY_MS first (its pacing), a stand-in for
a real round trip; with 0 the concurrency ratio shows only what the waits built
into the protocols (long-running operations polled after a delay) let overlap.

    .venv/bin/python bench/bench_prepare_clouds.py [CLUSTERS] [LATENCY_MS]   # default: 6 10
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from azure_stand_in import SUBSCRIPTION_ID, TENANT_ID, AzureStandIn  # noqa: E402
from gcp_stand_in import PROJECT, GcpStandIn  # noqa: E402
from vsphere_stand_in import PASSWORD, USER, VCenterStandIn, example_inventory  # noqa: E402

from dokaseca.config import parse_fleet  # noqa: E402
from dokaseca.kube import ManagementCluster  # noqa: E402
from dokaseca.plugins import load_plugins  # noqa: E402
from dokaseca.prepare import prepare_fleet  # noqa: E402

import dokaseca_azure.plugin  # noqa: E402
import dokaseca_azure.prepare  # noqa: E402
import dokaseca_gcp.plugin  # noqa: E402
import dokaseca_gcp.prepare  # noqa: E402
import dokaseca_vsphere.plugin  # noqa: E402
import dokaseca_vsphere.prepare  # noqa: E402

PER_ENVIRONMENT = 2
ROUNDS = 5  # each: first prepare one at a time, the second prepare, first prepare N at a time
# Environment variables the SDKs would otherwise read from the machine running the benchmark.
FOREIGN = ("AZURE_", "MSI_", "IDENTITY_", "GOOGLE_", "GCE_", "CLOUDSDK_", "VSPHERE_", "GOVC_", "SSL_CERT_", "REQUESTS_CA_BUNDLE")


def fleet_text(provider: str, defaults: dict, environments: dict[str, dict], cluster: Callable[[str, int], dict]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "dokaseca.io/v1alpha1",
            "kind": "Fleet",
            "metadata": {"name": "acme"},
            "defaults": {"kubernetesVersion": "v1.33.1", provider: defaults},
            "environments": {name: {provider: block} for name, block in environments.items()},
            "clusters": [
                {"name": f"{env}-{n}", "environment": env, "provider": provider, **cluster(env, n)}
                for env in environments
                for n in range(PER_ENVIRONMENT)
            ],
        },
        sort_keys=False,
    )


class StandInBench:
    """What every provider's bench does with its stand-in; a subclass sets
    ``stand_in``, ``environment``, ``fleet`` and ``fresh``. Calls counted:
    Azure's are Resource Manager calls (sign-in to Entra ID left out); GCP's
    API calls (token requests left out, operation waits are reads); vCenter's
    SOAP calls (Login and RetrieveServiceContent included)."""

    stand_in: Any

    def fresh(self) -> None:
        self.stand_in.reset()

    def clear_calls(self) -> None:
        self.stand_in.clear_calls()

    def counts(self) -> tuple[int, int]:
        """(mutating, reads)"""
        return len(self.stand_in.mutating()), len(self.stand_in.reads())

    def close(self) -> None:
        self.stand_in.close()


class Azure(StandInBench):
    """Per environment a resource group (resourceGroupScope: environment) and a
    vnet with two subnets; per cluster an addon identity with its federated credential."""

    name = "Azure"
    forget = staticmethod(dokaseca_azure.prepare.forget)
    plugin = ("azure", dokaseca_azure.plugin)

    def __init__(self, folder: Path) -> None:
        self.stand_in = AzureStandIn()
        self.environment = self.stand_in.environment(folder)

    def fleet(self, environments: list[str]) -> str:
        defaults = {
            "subscriptionId": SUBSCRIPTION_ID,
            "identity": {"clientId": "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a", "tenantId": TENANT_ID},
            "resourceManagerEndpoint": self.stand_in.url,
            "resourceGroupScope": "environment",
            "network": {"create": True},
            "addonIdentities": {"external_dns": {}},
        }
        return fleet_text(
            "azure",
            defaults,
            {env: {} for env in environments},
            lambda env, n: {"region": "westeurope", "azure": {"serviceAccountIssuer": f"https://oidc.example.com/{env}-{n}"}},
        )


class Gcp(StandInBench):
    """Per environment a custom-mode network with one subnet, firewall rules and
    a Cloud Router with Cloud NAT; every second cluster is GKE, its version
    checked against the regular channel."""

    name = "GCP"
    forget = staticmethod(dokaseca_gcp.prepare.forget)
    plugin = ("gcp", dokaseca_gcp.plugin)

    def __init__(self, folder: Path) -> None:
        self.stand_in = GcpStandIn(tls=True)
        self.environment = self.stand_in.environment(folder)

    def fleet(self, environments: list[str]) -> str:
        def network(index: int, env: str) -> dict:
            # Subnet names are the project's per region: each environment's needs its own.
            return {"network": {"create": True, "subnets": [{"name": f"{env}-nodes", "cidrBlock": f"10.{10 + index}.0.0/20"}]}}

        def cluster(env: str, n: int) -> dict:
            if n % 2 == 0:
                return {"region": "europe-west1"}
            gke = {"flavor": "gke", "kubernetesVersion": "v1.33.5", "gcp": {"gke": {"releaseChannel": "regular"}}}
            return {"region": "europe-west1", "workers": [{"name": "general", "replicas": 3}], **gke}

        defaults = {"project": PROJECT, "endpoints": self.stand_in.endpoints()}
        return fleet_text("gcp", defaults, {env: network(i, env) for i, env in enumerate(environments)}, cluster)


class Vsphere(StandInBench):
    """Per environment a VM folder (the default, <fleet>-<environment>) and a
    resource pool; the datacenter, network, datastore and template found and checked."""

    name = "vSphere"
    forget = staticmethod(dokaseca_vsphere.prepare.forget)
    plugin = ("vsphere", dokaseca_vsphere.plugin)

    def __init__(self, folder: Path) -> None:
        self.stand_in = VCenterStandIn(users={USER: PASSWORD})
        self.environment = {"VSPHERE_USERNAME": USER, "VSPHERE_PASSWORD": PASSWORD}

    def fleet(self, environments: list[str]) -> str:
        defaults = {
            "server": self.stand_in.server,
            "caFile": self.stand_in.ca_file,
            "datacenter": "dc1",
            "datastore": "vsanDatastore",
            "network": "k8s-nodes",
            "template": "ubuntu-2404-kube-v1.33.1",
            "controlPlaneEndpoint": "10.20.0.10",
        }
        pools = {env: {"resourcePool": f"cluster1/Resources/{env}"} for env in environments}
        return fleet_text("vsphere", defaults, pools, lambda env, n: {})

    def fresh(self) -> None:
        self.stand_in.reset(example_inventory())


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Only ``values`` for the SDKs to find (as the tests' fixtures do), the old environment back afterwards."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(FOREIGN)]:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bench(provider: Any, count: int, latency: float) -> None:
    environments = [f"env{i}" for i in range(-(-count // PER_ENVIRONMENT))]
    host = load_plugins(autoload=False, extra=[provider.plugin])
    clusters = parse_fleet(provider.fleet(environments), host).clusters[:count]
    management = ManagementCluster()  # never connected: these providers keep nothing in Kubernetes

    def run(concurrency: int, *, fresh: bool) -> tuple[float, int, int]:
        """(seconds, mutating calls, reads) of one prepare of the fleet."""
        if fresh:
            provider.fresh()  # also takes the latency away
        provider.stand_in.pacing.latency = latency
        provider.forget()
        provider.clear_calls()
        start = time.perf_counter()
        outcomes = prepare_fleet(host, clusters, management=management, dry_run=False, concurrency=concurrency)
        seconds = time.perf_counter() - start
        failed = [o.error for o in outcomes if o.error]
        if failed:
            sys.exit(f"{provider.name} prepare failed: {failed[0]}")
        return (seconds, *provider.counts())

    run(1, fresh=True)  # warm: SDK imported, clients and TLS contexts built once
    rounds = [(run(1, fresh=True), run(1, fresh=False), run(count, fresh=True)) for _ in range(ROUNDS)]
    provider.forget()
    first, second, together = ([r[i] for r in rounds] for i in range(3))
    seconds = [statistics.median(s for s, _, _ in runs) for runs in (first, second, together)]

    print(f"\n{provider.name}: {len(clusters)} clusters in {len(environments)} environments, wall times the median of {ROUNDS} rounds")
    print(f"  {'':38} {'calls':>6} {'mutating':>9} {'reads':>6} {'per cluster':>12} {'wall time':>10}")
    rows = (("first prepare, one at a time", first[-1][1:], seconds[0]), ("second prepare, nothing remembered", second[-1][1:], seconds[1]))
    for label, (mutating, reads), wall in rows:
        total = mutating + reads
        print(f"  {label:38} {total:6} {mutating:9} {reads:6} {total / len(clusters):12.1f} {wall * 1000:7.0f} ms")
    calls = [sum(runs[-1][1:]) for runs in (first, second)]
    print(
        f"  -> second prepare: {calls[1] / calls[0]:.2f}x the calls, {second[-1][1]} mutating, {seconds[1] / seconds[0]:.2f}x the wall time"
    )
    print(
        f"  first prepare, {count} at a time: {seconds[2] * 1000:.0f} ms, {sum(together[-1][1:])} calls "
        f"-> speed-up over one at a time: {seconds[0] / seconds[2]:.2f}x"
    )


def main(count: int, latency_ms: float) -> None:
    print(f"prepare of {count} clusters per provider against the loopback stand-ins, {latency_ms:g} ms added to every request")
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as folder:
        for kind in (Azure, Gcp, Vsphere):
            home = Path(folder) / kind.name
            home.mkdir()
            provider = kind(home)
            try:
                with environment(provider.environment):
                    bench(provider, count, latency_ms / 1000)
            finally:
                provider.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6, float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
