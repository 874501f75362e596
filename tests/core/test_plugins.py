"""Plugin discovery through real entry points (a dist-info on sys.path), and failure isolation."""

import subprocess
import sys
import textwrap

import pytest

from dokaseca.plugins import DEFAULT_PLUGINS, load_plugins, sdk_installed


def install_fake_distribution(root, dist, modules: dict[str, str], entry_points: dict[str, str]):
    """What pip leaves behind: a module plus a .dist-info with METADATA and entry_points.txt."""
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[dokaseca]\n{lines}\n")


GOOD = """
    import attrs
    from dokaseca import hookimpl, ProviderInfo

    @attrs.frozen(kw_only=True)
    class Config:
        location: str = "x"

    @hookimpl
    def register_providers(register):
        register(ProviderInfo(name="hetzner", config_type=Config, sdk_modules=("hcloud",), description="d"))
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def record(host, name):
    return next(r for r in host.records if r.name == name)


def test_defaults_are_registered_like_plugins():
    host = load_plugins(autoload=False)
    defaults = [r for r in host.records if r.origin == "default"]
    assert [r.module for r in defaults] == list(DEFAULT_PLUGINS)
    assert all(r.status == "loaded" for r in defaults)
    assert "modify_manifests" in record(host, "standard_labels").hooks
    assert host.pm.has_plugin("gitops_metadata")


def test_entry_point_plugin_is_found_with_its_distribution(site):
    install_fake_distribution(site, "dokaseca-hetzner", {"dk_hetzner": GOOD}, {"hetzner": "dk_hetzner"})
    host = load_plugins()
    found = record(host, "hetzner")
    assert (found.status, found.distribution, found.version, found.providers) == ("loaded", "dokaseca-hetzner", "1.2.3", ("hetzner",))
    assert host.providers["hetzner"].plugin == "hetzner"


def test_broken_plugins_are_reported_by_name_and_do_not_stop_others(site):
    install_fake_distribution(
        site,
        "dokaseca-broken",
        {
            "dk_hetzner": GOOD,
            "dk_crash": "raise RuntimeError('boom at import')",
            "dk_typo": """
                from dokaseca import hookimpl
                @hookimpl
                def render_provider_manifest(cluster, provider, infra):
                    return None
            """,
            "dk_register_fails": """
                from dokaseca import hookimpl
                @hookimpl
                def register_providers(register):
                    raise KeyError("missing setting")
            """,
            "dk_duplicate": GOOD,
        },
        {"hetzner": "dk_hetzner", "crash": "dk_crash", "typo": "dk_typo", "register-fails": "dk_register_fails", "zz-duplicate": "dk_duplicate"},
    )
    host = load_plugins()
    assert record(host, "hetzner").status == "loaded"
    crash = record(host, "crash")
    assert crash.status == "failed" and "boom at import" in crash.error
    typo = record(host, "typo")
    assert typo.status == "failed" and "did you mean 'render_provider_manifests'" in typo.error
    assert not host.pm.has_plugin("typo")
    fails = record(host, "register-fails")
    assert fails.status == "failed" and "missing setting" in fails.error
    duplicate = record(host, "zz-duplicate")
    assert duplicate.status == "failed" and "already registered by plugin 'hetzner'" in duplicate.error
    assert host.providers["hetzner"].plugin == "hetzner"


def test_block_and_allow_lists(site):
    install_fake_distribution(site, "dokaseca-hetzner", {"dk_hetzner": GOOD}, {"hetzner": "dk_hetzner"})
    assert record(load_plugins(block=["hetzner"]), "hetzner").status == "blocked"
    assert "hetzner" not in load_plugins(block=["hetzner"]).providers
    assert record(load_plugins(allow=[]), "hetzner").status == "blocked"
    assert "hetzner" in load_plugins(allow=["hetzner"]).providers
    assert not any(r.origin == "installed" for r in load_plugins(autoload=False).records)


def test_sdk_installed_finds_modules_without_importing_them():
    assert sdk_installed(("json", "email.mime"))
    assert not sdk_installed(("json", "no_such_sdk_module"))
    assert not sdk_installed(("json.no_such_child",))
    script = (
        "import sys; from dokaseca.plugins import sdk_installed; "
        "sdk_installed(('email.mime.text', 'xml.dom.minidom')); "
        "print(sorted(m for m in ('email.mime', 'email.mime.text', 'xml.dom', 'xml.dom.minidom') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_sdk_installed_handles_namespace_packages_like_google_cloud(tmp_path):
    # google/ and google/cloud/ have no __init__.py: namespace packages spread over folders.
    for root, leaf in ((tmp_path / "a", "compute_v1"), (tmp_path / "b", "container_v1")):
        package = root / "nsvendor" / "cloud" / leaf
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("raise SystemExit('imported!')\n")
    script = (
        "import sys; from dokaseca.plugins import sdk_installed; "
        "print(sdk_installed(('nsvendor.cloud.compute_v1', 'nsvendor.cloud.container_v1')), "
        "sdk_installed(('nsvendor.cloud.storage_v1',)), "
        "sorted(m for m in sys.modules if m.startswith('nsvendor')))"
    )
    env = {"PYTHONPATH": f"{tmp_path / 'a'}:{tmp_path / 'b'}"}
    import os

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env={**os.environ, **env}).stdout
    assert out.strip() == "True False []"
