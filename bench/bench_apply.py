"""Benchmark for `apply` against the Kubernetes API emulator on loopback.

    python bench/bench_apply.py [clusters=50] [concurrency=8]

Reports API requests per cluster for a first and a second apply (expect one
server-side apply per object, and discovery once per kind, not per object),
and the wall time to apply N clusters with bounded concurrency versus one at
a time, each against a fresh emulator in the same run, with a 2 ms delay per
request standing for the round trip to a real API server (without it client
and emulator share one CPU-bound process and concurrency has nothing to hide).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import fleet_text  # noqa: E402
from kube_emulator import KubeEmulator  # noqa: E402

from dokaseca.apply import apply_fleet  # noqa: E402
from dokaseca.config import parse_fleet  # noqa: E402
from dokaseca.kube import Kube  # noqa: E402
from dokaseca.plugins import load_plugins  # noqa: E402
from dokaseca.render import render_clusters  # noqa: E402
from dokaseca.testing.shared import find_shared_dir  # noqa: E402

LATENCY = 0.002


def kinds_of(requests: list) -> Counter:
    kinds: Counter = Counter()
    for request in requests:
        if request.method == "PATCH" and "apply-patch" in (request.content_type or ""):
            kinds["apply"] += 1
        elif request.method == "GET" and (request.path.startswith("/api") or request.path == "/version"):
            kinds["discovery/get"] += 1
        else:
            kinds[request.method.lower()] += 1
    return kinds


def main(count: int = 50, concurrency: int = 8) -> None:
    shared = find_shared_dir(ROOT)
    if shared is None:
        sys.exit("shared/crds not found: put the shared folder beside the repository or set DOKASECA_SHARED_DIR")
    host = load_plugins()
    fleet = parse_fleet(fleet_text(count), host)
    objects = sum(len(r.objects) for r in render_clusters(host, fleet.clusters))
    state = Path(tempfile.mkdtemp())
    print(f"apply {count} clusters ({objects} objects + {len({c.namespace for c in fleet.clusters})} namespaces) to the emulator")

    with KubeEmulator([shared / "crds"]) as emulator:
        kube = Kube(str(emulator.kubeconfig_path), emulator.context)
        apply_fleet(host, fleet.clusters, kube, wait=False, prepare=False, concurrency=concurrency, state_dir=state)
        first = kinds_of(emulator.requests.filter())
        seen = len(emulator.requests.filter())
        apply_fleet(host, fleet.clusters, Kube(str(emulator.kubeconfig_path), emulator.context), wait=False, prepare=False, concurrency=concurrency, state_dir=state)
        second = kinds_of(emulator.requests.filter()[seen:])
    for label, counts in (("first apply", first), ("second apply", second)):
        total = sum(counts.values())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"  {label:13} {total:5} requests = {total / count:5.1f} per cluster ({detail}); objects per cluster {objects / count:.1f}")

    timings = {}
    for workers in (1, concurrency):
        # 2 ms per request stands for the network round trip to a real API server.
        with KubeEmulator([shared / "crds"], latency=LATENCY) as emulator:
            kube = Kube(str(emulator.kubeconfig_path), emulator.context)
            start = time.perf_counter()
            outcomes = apply_fleet(host, fleet.clusters, kube, wait=False, prepare=False, concurrency=workers, state_dir=state)
            timings[workers] = time.perf_counter() - start
            assert not any(o.error for o in outcomes), [o.error for o in outcomes if o.error]
    base = timings[1]
    print(f"  wall time with {LATENCY * 1000:.0f} ms emulated latency per request:")
    print(f"  one at a time          {base:6.2f} s   1.00x")
    print(f"  {concurrency} at a time            {timings[concurrency]:6.2f} s   {base / timings[concurrency]:.2f}x faster")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
