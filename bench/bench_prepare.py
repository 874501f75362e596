"""AWS prepare against moto's server (behind the recording proxy of tests/support/aws_stand_in.py).

1. API calls of one cluster: a first prepare, and a second one with nothing
   remembered (as a new `dokaseca prepare` process would run it).
2. Wall time for 10 clusters (5 environments x 2; one network per environment,
   IAM once for the account) through `dokaseca.prepare.prepare_fleet`, the
   function behind `dokaseca prepare`: one at a time (--concurrency 1) and ten
   at a time, with a fixed latency per request standing for a real round trip.

    .venv/bin/python bench/bench_prepare.py [latency-ms ...]     # default: 10 50
"""

from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from aws_stand_in import ACCOUNT_ID, AwsStandIn, is_mutating, machine_image  # noqa: E402

from dokaseca.config import parse_fleet  # noqa: E402
from dokaseca.kube import ManagementCluster  # noqa: E402
from dokaseca.plugins import load_plugins  # noqa: E402
from dokaseca.prepare import prepare_fleet  # noqa: E402

import dokaseca_aws.plugin  # noqa: E402
from dokaseca_aws.prepare import forget  # noqa: E402

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIR0l92jLFwdmDz+m6sCW1WywguLXXzRit81Q8TCS3Rf ops@acme"
AWS = {"sshKeyName": "platform", "sshPublicKey": PUBLIC_KEY, "network": {"create": True}, "amiLookup": {"owner": ACCOUNT_ID}}
# One CAPA-style image in moto's catalogue, so the AMI lookup finds something.
IMAGE = machine_image("ami-00000000000000001", "capa-ami-ubuntu-24.04-v1.33.1-1700000000")


def fleet_text(environments: int, per_environment: int) -> str:
    names = [f"env{i}" for i in range(environments)]
    return yaml.safe_dump(
        {
            "apiVersion": "dokaseca.io/v1alpha1",
            "kind": "Fleet",
            "metadata": {"name": "acme"},
            "defaults": {"kubernetesVersion": "v1.33.1", "aws": AWS},
            "environments": {name: {} for name in names},
            "clusters": [
                {"name": f"{env}-{n}", "environment": env, "provider": "aws", "region": "eu-west-1", "workers": [{"name": "general", "replicas": 2}]}
                for env in names
                for n in range(per_environment)
            ],
        },
        sort_keys=False,
    )


def main(latencies_ms: list[float]) -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "amis.json").write_text(json.dumps([IMAGE]))
    stand_in = AwsStandIn(amis_file=folder / "amis.json")
    os.environ.update(stand_in.environment(folder))
    host = load_plugins(autoload=False, extra=[("aws", dokaseca_aws.plugin)])
    management = ManagementCluster()  # never connected: AWS keeps nothing in Kubernetes

    def run(clusters, concurrency):
        outcomes = prepare_fleet(host, clusters, management=management, concurrency=concurrency)
        failed = [o.error for o in outcomes if o.error]
        if failed:
            sys.exit(f"prepare failed: {failed[0]}")
        return outcomes

    try:
        one = parse_fleet(fleet_text(1, 1), host).clusters
        print("API calls of one cluster (kubeadm, shared network made by prepare):")
        for label in ("first prepare", "second prepare"):
            forget()
            stand_in.clear_calls()
            run(one, 1)
            counts = collections.Counter(stand_in.operations())
            mutating = sum(n for op, n in counts.items() if is_mutating(op))
            print(f"  {label}: {sum(counts.values())} calls, {mutating} mutating, {sum(counts.values()) - mutating} reads")

        ten = parse_fleet(fleet_text(5, 2), host).clusters
        print("\n10 clusters (5 environments x 2), first prepare each time:")
        for latency in latencies_ms:
            times = {}
            for concurrency in (1, 10):
                stand_in.reset()
                forget()
                run(one, 1)  # warm: boto3 imported, service models loaded, moto's backends built
                stand_in.reset()
                forget()
                stand_in.clear_calls()
                stand_in.latency = latency / 1000
                start = time.perf_counter()
                outcomes = run(ten, concurrency)
                times[concurrency] = time.perf_counter() - start
                stand_in.latency = 0.0
                vpcs = {o.outputs["vpc_id"] for o in outcomes}
                print(
                    f"  {latency:.0f} ms/request, concurrency {concurrency:2}: {times[concurrency]:.2f} s "
                    f"({len(stand_in.operations())} calls, {len(stand_in.mutating())} mutating, {len(vpcs)} VPCs)"
                )
            print(f"  -> concurrency 10 is {times[1] / times[10]:.2f}x faster than one at a time")
        forget()
        stand_in.clear_calls()
        run(ten, 10)
        print(f"  second prepare of the 10: {len(stand_in.operations())} calls, {len(stand_in.mutating())} mutating")
    finally:
        stand_in.close()


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [10.0, 50.0])
