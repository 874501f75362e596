"""Benchmarks for `render` and `validate`, each reported as a ratio to a baseline
measured in the same run (so the figures mean the same on a slow or a fast machine).

    python bench/bench_render.py            # all of it
    python bench/bench_render.py startup    # one part: startup | scale

startup: wall time of `dokaseca render examples/fleet.yaml` vs `python -c "import yaml, attrs, pluggy"`
         (median of interleaved runs; the target is within 3x).
scale:   load + render + CRD-validate fleets of 10, 100 and 1,000 clusters; per-cluster cost, its
         ratio to a plain yaml.CSafeDumper dump of the same objects, and how it grows.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fleet.yaml"


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def startup(runs: int = 15) -> None:
    # pip compiles bytecode when it installs a wheel, so yaml, attrs and pluggy
    # start from .pyc files; this checkout's editable sources would be compiled
    # on every run when PYTHONDONTWRITEBYTECODE is set. Compile them the same
    # way so both sides are measured as installed.
    import compileall

    for source in [ROOT / "core" / "src", *(ROOT / "plugins").glob("*/src")]:
        compileall.compile_dir(str(source), quiet=1)
    baseline_cmd = [sys.executable, "-c", "import yaml, attrs, pluggy"]
    render_cmd = [sys.executable, "-m", "dokaseca", "render", str(EXAMPLE)]
    help_cmd = [sys.executable, "-m", "dokaseca", "--help"]
    for command in (baseline_cmd, render_cmd, help_cmd):  # warm the file cache
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    baseline, render, help_ = [], [], []
    for _ in range(runs):  # interleaved so drift hits all alike
        baseline.append(wall_time(baseline_cmd))
        render.append(wall_time(render_cmd))
        help_.append(wall_time(help_cmd))
    b, r, h = statistics.median(baseline), statistics.median(render), statistics.median(help_)
    print("startup (median of %d interleaved runs)" % runs)
    print(f"  python -c 'import yaml, attrs, pluggy'  {b * 1000:7.1f} ms   1.00x")
    print(f"  dokaseca --help                         {h * 1000:7.1f} ms   {h / b:.2f}x")
    print(f"  dokaseca render examples/fleet.yaml     {r * 1000:7.1f} ms   {r / b:.2f}x  (target < 3x)")


def fleet_text(count: int) -> str:
    base = yaml.safe_load(EXAMPLE.read_text())
    environments = ["dev", "stg", "prod"]
    base["clusters"] = [
        {
            "name": f"c{index:04d}-{environments[index % 3]}",
            "environment": environments[index % 3],
            "provider": "aws",
            "region": ["eu-west-1", "us-east-1", "ap-south-1"][index % 3],
            "mode": "clusterclass" if index % 4 == 0 else "classic",
        }
        for index in range(count)
    ]
    return yaml.safe_dump(base, sort_keys=False)


def scale(sizes: tuple[int, ...] = (10, 100, 1000)) -> None:
    from dokaseca.config import parse_fleet
    from dokaseca.crds import CRDSchemas
    from dokaseca.manifests import dump_all
    from dokaseca.plugins import load_plugins
    from dokaseca.render import render_clusters
    from dokaseca.testing.shared import find_shared_dir

    shared = find_shared_dir(ROOT)
    if shared is None:
        sys.exit("shared/crds not found: put the shared folder beside the repository or set DOKASECA_SHARED_DIR")
    schemas = CRDSchemas.from_directories([shared / "crds" / "capi", shared / "crds" / "capa"])
    host = load_plugins()
    print("render + validate (per cluster; baseline = yaml.CSafeDumper dump of the same objects)")
    print(f"  {'clusters':>8} {'objects':>8} {'load':>9} {'render':>9} {'validate':>9} {'dump':>9} {'total':>9} {'baseline':>9} {'ratio':>7}")
    for count in sizes:
        text = fleet_text(count)
        t0 = time.perf_counter()
        fleet = parse_fleet(text, host)
        t1 = time.perf_counter()
        rendered = render_clusters(host, fleet.clusters)
        t2 = time.perf_counter()
        objects = [o for r in rendered for o in r.objects]
        problems = schemas.validate_all(objects)
        t3 = time.perf_counter()
        output = dump_all(objects)
        t4 = time.perf_counter()
        yaml.dump_all(objects, Dumper=yaml.CSafeDumper, sort_keys=False)
        t5 = time.perf_counter()
        assert not problems, problems[:3]
        assert output.count("\nkind: Cluster\n") == count
        total, baseline = t4 - t0, t5 - t4

        def per(seconds: float, count: int = count) -> float:
            return seconds / count * 1000

        print(
            f"  {count:>8} {len(objects):>8} {per(t1 - t0):>7.3f}ms {per(t2 - t1):>7.3f}ms {per(t3 - t2):>7.3f}ms"
            f" {per(t4 - t3):>7.3f}ms {per(total):>7.3f}ms {per(baseline):>7.3f}ms {total / baseline:>6.1f}x"
        )


if __name__ == "__main__":
    parts = sys.argv[1:] or ["startup", "scale"]
    for part in parts:
        {"startup": startup, "scale": scale}[part]()
