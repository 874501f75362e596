"""Plugin discovery and the provider registry.

Order of registration: the core's ``DEFAULT_PLUGINS`` first, then installed
distributions' entry points (group ``dokaseca``), then ``extra`` objects from
an embedding program. pluggy calls the most recently registered first, so an
installed plugin can override a default one.

Nothing happens at import time: :func:`load_plugins` builds a new manager
each call, so tests and embedding tools get isolated ones.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from typing import Any, Iterable, Sequence

import attrs
import pluggy

from dokaseca import hookspecs
from dokaseca.models import ProviderInfo
from dokaseca.validators import did_you_mean

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME

DEFAULT_PLUGINS: tuple[str, ...] = (
    "dokaseca.builtin.standard_labels",
    "dokaseca.builtin.gitops_metadata",
    "dokaseca.builtin.argocd",
    "dokaseca.builtin.flux",
)

# First-party provider names, so a fleet file naming one that is not
# installed gets `pip install dokaseca-<name>` instead of "unknown provider".
FIRST_PARTY_PROVIDERS = ("aws", "azure", "gcp", "vsphere", "metal3")


@attrs.define(kw_only=True)
class PluginRecord:
    """What ``dokaseca plugins`` shows for one plugin."""

    name: str
    module: str
    origin: str  # "default", "installed" or "extra"
    distribution: str = ""
    version: str = ""
    status: str = "loaded"  # "loaded", "blocked" or "failed"
    error: str = ""
    hooks: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define(kw_only=True)
class PluginHost:
    """A loaded plugin manager with its records and registered providers."""

    pm: pluggy.PluginManager
    records: list[PluginRecord]
    providers: dict[str, ProviderInfo]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def provider(self, name: str) -> ProviderInfo:
        from dokaseca.errors import ProviderError

        try:
            return self.providers[name]
        except KeyError:
            raise ProviderError(unknown_provider_message(name, self.providers)) from None


def unknown_provider_message(name: str, installed: Iterable[str]) -> str:
    installed = sorted(installed)
    text = f"no installed plugin provides {name!r}"
    hint = did_you_mean(name, installed) if installed else ""
    if hint.startswith("did you mean"):
        return f"{text}; {hint}"
    listing = ", ".join(installed) or "none"
    return f"{text} (installed providers: {listing}); try `pip install dokaseca-{name}`"


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    *,
    autoload: bool = True,
    allow: Sequence[str] | None = None,
    block: Sequence[str] = (),
    extra: Sequence[tuple[str, object]] = (),
    defaults: Sequence[str] = DEFAULT_PLUGINS,
    trace: bool = False,
) -> PluginHost:
    """Build a plugin manager with the default, installed and extra plugins.

    :param autoload: load installed entry points (``DOKASECA_DISABLE_PLUGIN_AUTOLOAD``).
    :param allow: when given, only these entry-point names are loaded
        (``DOKASECA_PLUGINS``); defaults are always loaded.
    :param block: entry-point names never to load (``--no-plugin``).
    :param extra: ``(name, plugin)`` pairs registered last, for embedding.

    A plugin that fails to import, register or validate is recorded as
    ``failed`` with the reason and left out; the others still load.
    """
    pm = new_plugin_manager()
    records: list[PluginRecord] = []
    for name in block:
        pm.set_blocked(name)

    for module_name in defaults:
        record = PluginRecord(name=module_name.rsplit(".", 1)[-1], module=module_name, origin="default")
        _register(pm, record, lambda m=module_name: importlib.import_module(m))
        records.append(record)

    if autoload:
        for ep in sorted(_entry_points(), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            record = PluginRecord(
                name=ep.name,
                module=ep.value,
                origin="installed",
                distribution=dist.metadata["Name"] if dist else "",
                version=dist.version if dist else "",
            )
            if ep.name in block or (allow is not None and ep.name not in allow):
                record.status = "blocked"
            else:
                _register(pm, record, ep.load)
            records.append(record)

    for name, plugin in extra:
        record = PluginRecord(name=name, module=getattr(plugin, "__name__", repr(plugin)), origin="extra")
        _register(pm, record, lambda p=plugin: p)
        records.append(record)

    if trace:
        _trace_hooks(pm)
    providers = _collect_providers(pm, records)
    return PluginHost(pm=pm, records=records, providers=providers)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault(ep.name, ep)  # the same dist on sys.path twice lists it twice
    return list(seen.values())


def _register(pm: pluggy.PluginManager, record: PluginRecord, load: Any) -> None:
    try:
        plugin = load()
        if pm.is_blocked(record.name):
            record.status = "blocked"
            return
        pm.register(plugin, name=record.name)
    except Exception as exc:  # a broken plugin must not stop the others
        record.status, record.error = "failed", _one_line(exc)
        return
    unknown = [hc.name for hc in pm.get_hookcallers(plugin) or () if hc.spec is None]
    if unknown:
        pm.unregister(plugin)
        known = [name for name in dir(hookspecs) if _is_spec(getattr(hookspecs, name))]
        hints = "; ".join(f"{u!r}: {did_you_mean(u, known)}" for u in sorted(unknown))
        record.status, record.error = "failed", f"unknown hook(s) {hints}"
        return
    record.hooks = tuple(sorted(hc.name for hc in pm.get_hookcallers(plugin) or ()))


def _is_spec(obj: Any) -> bool:
    return callable(obj) and hasattr(obj, hookspecs.PROJECT_NAME + "_spec")


def _collect_providers(pm: pluggy.PluginManager, records: list[PluginRecord]) -> dict[str, ProviderInfo]:
    by_name = {r.name: r for r in records}
    providers: dict[str, ProviderInfo] = {}
    for impl in pm.hook.register_providers.get_hookimpls():  # in registration order
        record = by_name[impl.plugin_name]
        offered: list[ProviderInfo] = []

        def register(info: ProviderInfo, _offered: list[ProviderInfo] = offered) -> None:
            if not isinstance(info, ProviderInfo):
                raise TypeError(f"register() takes a ProviderInfo, not {type(info).__name__}")
            _offered.append(info)

        try:
            impl.function(**({"register": register} if "register" in impl.argnames else {}))
        except Exception as exc:
            pm.unregister(name=impl.plugin_name)
            record.status, record.error = "failed", f"register_providers: {_one_line(exc)}"
            continue
        for info in offered:
            if info.name in providers:
                other = providers[info.name].plugin
                record.status = "failed"
                record.error = f"provider {info.name!r} is already registered by plugin {other!r}"
                continue
            providers[info.name] = attrs.evolve(info, plugin=record.name)
            record.providers += (info.name,)
    return providers


def _trace_hooks(pm: pluggy.PluginManager) -> None:
    import sys

    def before(hook_name: str, impls: list, kwargs: dict) -> None:
        print(f"[hook] {hook_name} -> {[i.plugin_name for i in impls]}", file=sys.stderr)

    def after(outcome: Any, hook_name: str, impls: list, kwargs: dict) -> None:
        pass

    pm.add_hookcall_monitoring(before, after)


def sdk_installed(modules: Sequence[str]) -> bool:
    """Whether every SDK module can be imported, found without importing it.

    ``importlib.util.find_spec("google.cloud.container")`` would import the
    parent packages, and the path finder needs namespace parents in
    ``sys.modules``; so below the top level each part is looked up with a
    file finder in the parent's folders, which only reads the file system.
    """
    return all(_find_spec_without_import(name) is not None for name in modules)


def _find_spec_without_import(name: str) -> Any:
    import importlib.machinery as machinery

    details = (
        (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
        (machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES),
        (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
    )
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    for depth in range(2, len(parts) + 1):
        if spec is None or not spec.submodule_search_locations:
            return None
        fullname = ".".join(parts[:depth])
        found = [machinery.FileFinder(location, *details).find_spec(fullname) for location in spec.submodule_search_locations]
        found = [f for f in found if f is not None]
        # A regular module or package wins; namespace portions are merged.
        spec = next((f for f in found if f.loader is not None), None)
        if spec is None and found:
            spec = found[0]
            spec.submodule_search_locations = [loc for f in found for loc in f.submodule_search_locations or ()]
    return spec


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


__all__ = [
    "DEFAULT_PLUGINS",
    "PluginHost",
    "PluginRecord",
    "load_plugins",
    "new_plugin_manager",
    "sdk_installed",
    "unknown_provider_message",
]
