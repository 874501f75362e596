"""The distributions as a user meets them: installed together, found through entry points,
and light to start (no cloud SDK imported by --help, plugins or render)."""

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ("aws", "azure", "gcp", "vsphere", "metal3")
SDK_PREFIXES = ("boto3", "botocore", "azure", "google", "pyVmomi", "kubernetes")


def test_core_and_all_providers_install_together():
    for dist in ("dokaseca", *(f"dokaseca-{p}" for p in PROVIDERS)):
        assert importlib.metadata.version(dist)
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    from dokaseca.plugins import load_plugins

    host = load_plugins()
    assert set(PROVIDERS) <= set(host.providers)
    assert all(r.status == "loaded" for r in host.records if r.name in PROVIDERS), [(r.name, r.error) for r in host.records]
    names = [r.name for r in host.records]
    assert len(names) == len(set(names))


def test_core_declares_no_cloud_sdk():
    requirements = importlib.metadata.requires("dokaseca") or []
    core = [r for r in requirements if "extra ==" not in r]
    assert not [r for r in core if r.split(">")[0].split("=")[0].strip().lower().startswith(("boto", "azure", "google", "pyvmomi", "kubernetes"))]


GUARD = """
import runpy, sys
sys.argv = ["dokaseca", *{args!r}]
try:
    runpy.run_module("dokaseca", run_name="__main__")
except SystemExit as exit:
    code = exit.code or 0
else:
    code = 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {prefixes!r})
print("LOADED=" + ",".join(loaded), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["plugins"], ["plugins", "--output", "json"], ["render", str(ROOT / "examples" / "fleet.yaml")], ["validate", str(ROOT / "examples" / "fleet.yaml")]],
    ids=["help", "plugins", "plugins-json", "render", "validate"],
)
def test_cli_imports_no_cloud_sdk(args):
    script = GUARD.format(args=args, prefixes=set(SDK_PREFIXES))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = result.stderr.strip().rsplit("LOADED=", 1)[1]
    assert loaded == "", f"imported SDK modules: {loaded}"


THIRD_PARTY_PLUGIN = '''
import attrs

from dokaseca import hookimpl, k8s_object, ProviderInfo, ProviderManifests
from dokaseca.validators import one_of


@attrs.frozen(kw_only=True)
class HetznerConfig:
    location: str = attrs.field(default="fsn1", validator=one_of("fsn1", "nbg1", "hel1"))
    server_type: str = "cpx31"


@hookimpl
def register_providers(register):
    register(ProviderInfo(name="hetzner", config_type=HetznerConfig, sdk_modules=("hcloud",), requires_region=False, description="Hetzner Cloud"))


@hookimpl
def render_provider_manifests(cluster, provider, infra):
    if provider.name != "hetzner":
        return None
    api = "infrastructure.cluster.x-k8s.io/v1beta1"
    config = cluster.provider_config

    def machine(name, size):
        return k8s_object(api, "HCloudMachineTemplate", name, cluster.namespace, spec={"template": {"spec": {"type": size}}})

    return ProviderManifests(
        infrastructure_cluster=k8s_object(api, "HetznerCluster", cluster.name, cluster.namespace, spec={"controlPlaneRegions": [config.location]}),
        control_plane_machine_template=machine(f"{cluster.name}-control-plane", config.server_type),
        worker_machine_templates={p.name: machine(f"{cluster.name}-{p.name}", p.machine_size or config.server_type) for p in cluster.workers},
    )
'''

THIRD_PARTY_FLEET = """
apiVersion: dokaseca.io/v1alpha1
kind: Fleet
metadata: {name: tp}
defaults: {kubernetesVersion: v1.33.1, workers: [{name: general, replicas: 1}]}
clusters:
  - {name: hz-1, environment: dev, provider: hetzner, hetzner: {location: nbg1}}
"""


def test_third_party_provider_distribution_is_found_through_its_entry_point(tmp_path):
    project = tmp_path / "dokaseca-hetzner"
    package = project / "src" / "dokaseca_hetzner"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "0.3.0"\n')
    (package / "plugin.py").write_text(THIRD_PARTY_PLUGIN)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "dokaseca-hetzner"
            version = "0.3.0"
            dependencies = ["dokaseca>=0.1"]
            [project.entry-points."dokaseca"]
            hetzner = "dokaseca_hetzner.plugin"
            [tool.setuptools.packages.find]
            where = ["src"]
            """
        )
    )
    # A fresh environment that sees this one's packages (core, pip, setuptools) but
    # gets the third-party distribution installed into itself, as `pip install` would.
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    target_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    (Path(target_site) / "_parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DOKASECA_")}
    listing = subprocess.run([python, "-m", "dokaseca", "plugins", "--output", "json"], capture_output=True, text=True, env=environ, check=True)
    hetzner = next(r for r in json.loads(listing.stdout) if r["name"] == "hetzner")
    assert (hetzner["distribution"], hetzner["version"], hetzner["status"], hetzner["providers"]) == ("dokaseca-hetzner", "0.3.0", "loaded", ["hetzner"])
    assert hetzner["sdk_installed"] is False
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(THIRD_PARTY_FLEET)
    rendered = subprocess.run([python, "-m", "dokaseca", "render", str(fleet)], capture_output=True, text=True, env=environ)
    assert rendered.returncode == 0, rendered.stderr
    assert "kind: HetznerCluster" in rendered.stdout and "- nbg1" in rendered.stdout
    # ...and the environment running these tests, where it is not installed, does not know it.
    from dokaseca.plugins import load_plugins

    assert "hetzner" not in load_plugins().providers
