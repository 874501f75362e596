"""The ``dokaseca`` command.

Environment switches are read here and only here (the library takes them as
arguments): ``DOKASECA_DISABLE_PLUGIN_AUTOLOAD=1``, ``DOKASECA_PLUGINS=a,b``
(allow-list; empty means none), ``DOKASECA_TRACE_HOOKS=1``.

Heavy modules (rich, jsonschema) are imported inside the commands that use
them so ``--help`` and ``render`` start fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import click

from dokaseca import __version__
from dokaseca.errors import DokasecaError, FleetError

OUTPUT_CHOICE = click.Choice(["table", "json"])


class Context:
    def __init__(self, blocked: tuple[str, ...], debug: bool) -> None:
        self.blocked = blocked
        self.debug = debug
        self._host: Any = None

    @property
    def host(self) -> Any:
        if self._host is None:
            from dokaseca.plugins import load_plugins

            allow_env = os.environ.get("DOKASECA_PLUGINS")
            self._host = load_plugins(
                autoload=os.environ.get("DOKASECA_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true"),
                allow=None if allow_env is None else [n for n in allow_env.split(",") if n],
                block=self.blocked,
                trace=os.environ.get("DOKASECA_TRACE_HOOKS", "") in ("1", "true"),
            )
        return self._host


def _fail(message: str, code: int = 2) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def handle_errors(command: Callable) -> Callable:
    """Turn the errors a user can act on into a message and exit code 2."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = ctx.find_object(Context).debug if ctx.find_object(Context) else False
        output = kwargs.get("output")
        try:
            return command(*args, **kwargs)
        except FleetError as exc:
            if debug:
                raise
            if output == "json":
                click.echo(json.dumps({"ok": False, "problems": [p.to_json() for p in exc.problems]}, indent=2, default=str))
                sys.exit(exc.exit_code)
            _fail(f"error: {exc.summary()}", exc.exit_code)
        except DokasecaError as exc:
            if debug:
                raise
            _fail(f"error: {exc}", exc.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dokaseca")
@click.option("--no-plugin", "blocked", multiple=True, metavar="NAME", help="Do not load this installed plugin (repeatable).")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of short error messages.")
@click.pass_context
def cli(ctx: click.Context, blocked: tuple[str, ...], debug: bool) -> None:
    """Turn one fleet file into Cluster API clusters managed by GitOps."""
    ctx.obj = Context(blocked, debug)


def _load(ctx: Context, fleet_path: str) -> Any:
    from dokaseca.config import load_fleet

    return load_fleet(fleet_path, ctx.host)


# -- validate -----------------------------------------------------------------


@cli.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False))
@click.option("--crds", "crd_dir", type=click.Path(file_okay=False, exists=True), help="Also render and check the manifests against the CRDs in this directory.")
@click.option("--output", type=OUTPUT_CHOICE, default="table", show_default=True)
@click.pass_obj
@handle_errors
def validate(ctx: Context, fleet_file: str, crd_dir: Optional[str], output: str) -> None:
    """Check a fleet file (and optionally the rendered manifests) without writing anything."""
    fleet = _load(ctx, fleet_file)
    schema_problems: list[Any] = []
    if crd_dir:
        from dokaseca.crds import CRDSchemas
        from dokaseca.render import render_clusters

        schemas = CRDSchemas.from_directory(crd_dir)
        for rendered in render_clusters(ctx.host, fleet.clusters):
            schema_problems += schemas.validate_all(rendered.objects)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "ok": not schema_problems,
                    "clusters": [c.name for c in fleet.clusters],
                    "problems": [{"document": p.document, "path": p.path, "message": p.message} for p in schema_problems],
                },
                indent=2,
            )
        )
    else:
        for problem in schema_problems:
            click.echo(f"{problem.document} {problem.path}: {problem.message}", err=True)
        if not schema_problems:
            _print_clusters(fleet.clusters)
            checked = " and its manifests against the CRDs" if crd_dir else ""
            click.echo(f"{fleet_file}{checked}: ok ({len(fleet.clusters)} clusters)")
    if schema_problems:
        sys.exit(1)


def _console() -> Any:
    from rich.console import Console

    # A pipe or a CI log has no width: do not cut names at 80 columns there.
    return Console() if sys.stdout.isatty() else Console(width=200)


def _print_clusters(clusters: Any) -> None:
    from rich.table import Table

    table = Table()
    for column in ("cluster", "env", "provider", "region", "flavor", "mode", "version", "cp", "workers"):
        table.add_column(column)
    for c in clusters:
        workers = ", ".join(
            f"{p.name}:{p.min_replicas}-{p.max_replicas}" if p.autoscaled else f"{p.name}:{p.replicas}" for p in c.workers
        )
        table.add_row(c.name, c.environment, c.provider, c.region or "-", c.flavor, c.mode, c.kubernetes_version, str(c.control_plane.replicas), workers or "-")
    _console().print(table)


# -- render -------------------------------------------------------------------


@cli.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Write one folder per environment and cluster instead of printing.")
@click.option("--env", "environments", multiple=True, metavar="ENV", help="Only clusters of this environment (repeatable).")
@click.option("--cluster", "clusters", multiple=True, metavar="NAME", help="Only this cluster (repeatable).")
@click.option("--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="json: one v1 List, as kubectl reads it.")
@click.option("--gitops-repo", metavar="URL", help="With -o: write a repository for the hub's Argo CD (clusters/ plus an ApplicationSet in bootstrap/).")
@click.option("--gitops-revision", default="HEAD", show_default=True, metavar="REV")
@click.option("--gitops-base-path", default="", metavar="PATH", help="Folder of the layout inside that repository.")
@click.option("--prepared", is_flag=True, help="Fill in what the last `dokaseca prepare` found (VPC and subnet ids, AMI, ...).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="With --prepared: where prepare saved its outputs.")
@click.pass_obj
@handle_errors
def render(
    ctx: Context,
    fleet_file: str,
    output_dir: Optional[str],
    environments: tuple[str, ...],
    clusters: tuple[str, ...],
    output: str,
    gitops_repo: Optional[str],
    gitops_revision: str,
    gitops_base_path: str,
    prepared: bool,
    state_dir: Optional[str],
) -> None:
    """Render the Cluster API manifests of the fleet (multi-document YAML on stdout).

    Offline and deterministic: without --prepared, values only prepare can
    know (a looked-up AMI, a network it made) are left for the provider's
    controller to find, as its defaults do.
    """
    if gitops_repo and not output_dir:
        raise click.UsageError("--gitops-repo writes a repository layout: give the folder with -o DIR")
    from dokaseca.manifests import dump_all
    from dokaseca.render import namespace_objects, render_clusters

    fleet = _load(ctx, fleet_file)
    selected = fleet.select(environments, clusters)
    infras = None
    if prepared:
        from dokaseca.prepare import saved_outputs

        saved = Path(state_dir) if state_dir else _state_dir(fleet.file.metadata.name)
        infras = {c.name: saved_outputs(saved, c) for c in selected}
    rendered = render_clusters(ctx.host, selected, infras)  # everything in memory first: nothing half-written
    if output_dir is None:
        objects = [*namespace_objects(selected), *(o for r in rendered for o in r.objects)]
        if output == "json":
            click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
        else:
            click.echo(dump_all(objects), nl=False)
        return
    files: dict[Path, str] = {}
    root = Path(output_dir)
    if gitops_repo:
        from dokaseca.gitops_objects import gitops_repository_layout

        layout = gitops_repository_layout(
            [(r.cluster, r.objects) for r in rendered], repo_url=gitops_repo, revision=gitops_revision, base_path=gitops_base_path
        )
        files = {root / relative: text for relative, text in layout.items()}
    for namespace in namespace_objects(selected) if not gitops_repo else ():
        for r in rendered:
            if r.cluster.namespace == namespace["metadata"]["name"]:
                files[root / r.cluster.environment / f"namespace-{namespace['metadata']['name']}.yaml"] = dump_all([namespace])
    for r in rendered if not gitops_repo else ():
        files[root / r.cluster.environment / r.cluster.name / "cluster.yaml"] = dump_all(r.objects)
    for path, text in sorted(files.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(rendered)} clusters to {root}", err=True)


# -- prepare -------------------------------------------------------------------


@cli.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False))
@click.option("--env", "environments", multiple=True, metavar="ENV", help="Only clusters of this environment (repeatable).")
@click.option("--cluster", "clusters", multiple=True, metavar="NAME", help="Only this cluster (repeatable).")
@click.option("--dry-run", is_flag=True, help="List what would be created or changed; change nothing.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Clusters prepared at the same time.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Management cluster kubeconfig, for providers that keep inventory there (Metal3).")
@click.option("--context", help="Management cluster context.")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where the outputs (ids, ARNs) are saved for `apply --no-prepare`.")
@click.option("--output", type=OUTPUT_CHOICE, default="table", show_default=True)
@click.pass_obj
@handle_errors
def prepare(
    ctx: Context,
    fleet_file: str,
    environments: tuple[str, ...],
    clusters: tuple[str, ...],
    dry_run: bool,
    concurrency: int,
    kubeconfig: Optional[str],
    context: Optional[str],
    state_dir: Optional[str],
    output: str,
) -> None:
    """Create or verify each cluster's cloud prerequisites (IAM, key pairs, networks, images, hosts).

    Idempotent: a second run changes nothing. Clusters are prepared side by
    side; one that fails is named with its reason and the others go on. Exits
    0 when every cluster is prepared, otherwise with the failures' code (2 for
    credentials, region or fleet values to fix).
    """
    from dokaseca.prepare import prepare_fleet, save_outputs

    fleet = _load(ctx, fleet_file)
    selected = fleet.select(environments, clusters)
    outcomes = prepare_fleet(
        ctx.host,
        selected,
        management=_management(fleet, kubeconfig, context),
        dry_run=dry_run,
        concurrency=concurrency,
        progress=_progress,
    )
    save_outputs(Path(state_dir) if state_dir else _state_dir(fleet.file.metadata.name), outcomes)
    if output == "json":
        click.echo(json.dumps([o.to_json() for o in outcomes], indent=2, default=str))
    else:
        _print_prepared(outcomes, dry_run)
    failed = [o.exit_code for o in outcomes if o.error]
    if failed:
        sys.exit(max(failed))


def _print_prepared(outcomes: Any, dry_run: bool) -> None:
    from rich.table import Table

    table = Table(title="planned changes (dry run)" if dry_run else None)
    for column in ("cluster", "env", "provider", "would change" if dry_run else "changed", "status"):
        table.add_column(column)
    for o in outcomes:
        status = "failed" if o.error else "nothing to prepare" if not o.has_prepare else "ok" if o.actions or dry_run else "up to date"
        table.add_row(o.name, o.environment, o.provider, "-" if o.error else str(len(o.actions)), status)
    console = _console()
    console.print(table)
    for o in outcomes:
        if o.actions:
            console.print(f"{o.name}:", highlight=False)
            for action in o.actions:
                console.print(f"  {'~' if dry_run else '+'} {action}", highlight=False, markup=False)
    for o in outcomes:
        if o.error:
            click.echo(f"error: {o.error}", err=True)


# -- apply and status ---------------------------------------------------------


def _management(fleet: Any, kubeconfig: Optional[str], context: Optional[str]) -> Any:
    """The management cluster from the options, else the fleet file, else KUBECONFIG; connected on first use."""
    from dokaseca.kube import ManagementCluster

    management = fleet.file.management
    return ManagementCluster(kubeconfig or management.kubeconfig, context or management.context)


def _state_dir(fleet_name: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "dokaseca" / fleet_name


def _progress(name: str, what: str) -> None:
    click.echo(f"[{name}] {what}", err=True)


@cli.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False))
@click.option("--env", "environments", multiple=True, metavar="ENV", help="Only clusters of this environment (repeatable).")
@click.option("--cluster", "clusters", multiple=True, metavar="NAME", help="Only this cluster (repeatable).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Management cluster kubeconfig (default: the fleet file's, then KUBECONFIG).")
@click.option("--context", help="Management cluster context.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until each control plane is ready.")
@click.option(
    "--prepare/--no-prepare",
    default=True,
    show_default=True,
    help="Run prepare first (idempotent); --no-prepare uses what the last `dokaseca prepare` saved in the state dir.",
)
@click.option("--timeout", type=float, default=1800, show_default=True, help="Seconds to wait per cluster.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where workload kubeconfigs and prepare's outputs are kept (0600).")
@click.option("--output", type=OUTPUT_CHOICE, default="table", show_default=True)
@click.pass_obj
@handle_errors
def apply(
    ctx: Context,
    fleet_file: str,
    environments: tuple[str, ...],
    clusters: tuple[str, ...],
    kubeconfig: Optional[str],
    context: Optional[str],
    wait: bool,
    prepare: bool,
    timeout: float,
    concurrency: int,
    state_dir: Optional[str],
    output: str,
) -> None:
    """Prepare, render and server-side apply the fleet to the management cluster, then wait."""
    from dokaseca.apply import apply_fleet

    fleet = _load(ctx, fleet_file)
    selected = fleet.select(environments, clusters)
    kube = _management(fleet, kubeconfig, context).kube
    outcomes = apply_fleet(
        ctx.host,
        selected,
        kube,
        wait=wait,
        prepare=prepare,
        timeout=timeout,
        concurrency=concurrency,
        state_dir=Path(state_dir) if state_dir else _state_dir(fleet.file.metadata.name),
        progress=_progress,
    )
    if output == "json":
        click.echo(json.dumps([o.to_json() for o in outcomes], indent=2))
    else:
        from rich.table import Table

        table = Table()
        for column in ("cluster", "namespace", "objects", "ready", "kubeconfig", "gitops", "error"):
            table.add_column(column)
        for o in outcomes:
            ready = "-" if o.ready is None else ("yes" if o.ready else "no")
            gitops = "-" if o.gitops_ready is None else ("done" if o.gitops_ready else f"not done: {o.gitops}")
            table.add_row(o.name, o.namespace, str(o.objects), ready, o.kubeconfig or "-", gitops, o.error or "")
        _console().print(table)
    if any(o.error or o.gitops_ready is False for o in outcomes):
        sys.exit(1)


@cli.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False))
@click.argument("cluster")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Management cluster kubeconfig (to read the workload kubeconfig from).")
@click.option("--context", help="Management cluster context.")
@click.option("--workload-kubeconfig", type=click.Path(dir_okay=False, exists=True), help="The workload cluster's kubeconfig (default: read from the <cluster>-kubeconfig Secret).")
@click.option("--hub-kubeconfig", type=click.Path(dir_okay=False, exists=True), help="Hub-spoke: the hub's kubeconfig (default: the one saved for the hub in the state dir, else read from its Secret).")
@click.option("--timeout", type=float, default=900, show_default=True, help="Seconds to wait for the engine to sync.")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where workload kubeconfigs are written (0600).")
@click.option("--output", type=OUTPUT_CHOICE, default="table", show_default=True)
@click.pass_obj
@handle_errors
def bootstrap(
    ctx: Context,
    fleet_file: str,
    cluster: str,
    kubeconfig: Optional[str],
    context: Optional[str],
    workload_kubeconfig: Optional[str],
    hub_kubeconfig: Optional[str],
    timeout: float,
    state_dir: Optional[str],
    output: str,
) -> None:
    """Install and register CLUSTER's GitOps engine, and wait until it has synced its root."""
    from dokaseca.apply import bootstrap as bootstrap_cluster
    from dokaseca.gitops_objects import is_spoke

    fleet = _load(ctx, fleet_file)
    spec = fleet.select(clusters=(cluster,))[0]
    directory = Path(state_dir) if state_dir else _state_dir(fleet.file.metadata.name)
    management = _management(fleet, kubeconfig, context)  # connected only if a kubeconfig must be read from it
    if workload_kubeconfig is None:
        workload_kubeconfig = str(management.kube.save_workload_kubeconfig(spec.name, spec.namespace, directory))
    if is_spoke(spec) and hub_kubeconfig is None and spec.gitops is not None and spec.gitops.hub:
        hub = fleet.select(clusters=(spec.gitops.hub,))[0]
        saved = directory / f"{hub.name}.kubeconfig"
        if saved.is_file():
            hub_kubeconfig = str(saved)
        else:
            hub_kubeconfig = str(management.kube.save_workload_kubeconfig(hub.name, hub.namespace, directory))
    _progress(spec.name, f"bootstrapping {spec.gitops.engine if spec.gitops else 'GitOps'}")
    result = bootstrap_cluster(ctx.host, spec, workload_kubeconfig, hub_kubeconfig, timeout=timeout)
    if output == "json":
        click.echo(json.dumps({"cluster": spec.name, "engine": result.engine, "ready": result.ready, "message": result.message}, indent=2))
    else:
        click.echo(f"{spec.name}: {result.engine} {'ready' if result.ready else 'not ready'}: {result.message}")
    if not result.ready:
        sys.exit(1)


@cli.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False))
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Management cluster kubeconfig.")
@click.option("--context", help="Management cluster context.")
@click.option("--output", type=OUTPUT_CHOICE, default="table", show_default=True)
@click.pass_obj
@handle_errors
def status(ctx: Context, fleet_file: str, kubeconfig: Optional[str], context: Optional[str], output: str) -> None:
    """Every cluster of the fleet as the management cluster sees it."""
    fleet = _load(ctx, fleet_file)
    kube = _management(fleet, kubeconfig, context).kube
    live = {(s.namespace, s.name): s for s in kube.cluster_statuses(fleet.file.metadata.name)}
    rows = []
    for cluster in fleet.clusters:
        found = live.get((cluster.namespace, cluster.name))
        row = {"cluster": cluster.name, "namespace": cluster.namespace, "environment": cluster.environment}
        if found is None:
            row.update(phase="NotApplied", control_plane_ready=False, version="", workers_ready=0, workers_desired=0)
        else:
            row.update(
                phase=found.phase,
                control_plane_ready=found.control_plane_ready,
                version=found.version,
                workers_ready=found.workers_ready,
                workers_desired=found.workers_desired,
            )
        rows.append(row)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table()
    for column in ("cluster", "env", "namespace", "phase", "control plane", "version", "workers"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["cluster"],
            row["environment"],
            row["namespace"],
            row["phase"],
            "ready" if row["control_plane_ready"] else "not ready",
            row["version"] or "-",
            f"{row['workers_ready']}/{row['workers_desired']}",
        )
    _console().print(table)


# -- explain ------------------------------------------------------------------


@cli.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False))
@click.argument("cluster")
@click.option("--output", type=OUTPUT_CHOICE, default="table", show_default=True)
@click.pass_obj
@handle_errors
def explain(ctx: Context, fleet_file: str, cluster: str, output: str) -> None:
    """Show every effective setting of CLUSTER and the layer it came from."""
    from dokaseca.config import make_converter
    from dokaseca.errors import redact

    fleet = _load(ctx, fleet_file)
    spec = fleet.select(clusters=(cluster,))[0]
    converter = make_converter()
    rows = [
        {"path": "provider", "value": spec.provider, "source": "cluster"},
        {"path": "flavor", "value": spec.flavor, "source": "cluster"},
        {"path": "mode", "value": spec.mode, "source": "cluster"},
        {"path": "namespace", "value": spec.namespace, "source": "management.namespaces"},
    ]
    if spec.region:
        rows.insert(1, {"path": "region", "value": spec.region, "source": "cluster"})
    rows += [
        {"path": s.path, "value": redact(s.path, converter.unstructure(s.value)), "source": s.source}
        for s in fleet.provenance[spec.name]
    ]
    if output == "json":
        click.echo(json.dumps({"cluster": spec.name, "environment": spec.environment, "settings": rows}, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=f"{spec.name} ({spec.environment})")
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for row in rows:
        value = row["value"]
        table.add_row(row["path"], value if isinstance(value, str) else json.dumps(value), row["source"])
    _console().print(table)


# -- plugins ------------------------------------------------------------------


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include the core's default plugins.")
@click.option("--hook", metavar="NAME", help="Only plugins implementing this hook.")
@click.option("--output", type=OUTPUT_CHOICE, default="table", show_default=True)
@click.pass_obj
def plugins(ctx: Context, show_all: bool, hook: Optional[str], output: str) -> None:
    """List installed plugins, the providers they offer and whether their SDK is installed."""
    from dokaseca.plugins import sdk_installed

    host = ctx.host
    rows = []
    for record in host.records:
        if record.origin == "default" and not show_all:
            continue
        if hook and hook not in record.hooks:
            continue
        sdk_modules = sorted({m for name in record.providers for m in host.providers[name].sdk_modules})
        row = record.to_json()
        row["sdk_modules"] = sdk_modules
        row["sdk_installed"] = sdk_installed(sdk_modules) if sdk_modules else None
        rows.append(row)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no plugins installed; try `pip install dokaseca-aws`")
        return
    from rich.table import Table

    table = Table()
    for column in ("plugin", "version", "providers", "hooks", "SDK", "status"):
        table.add_column(column)
    for row in rows:
        sdk = {None: "-", True: "installed", False: "missing"}[row["sdk_installed"]]
        if row["sdk_installed"] is False:
            sdk += f" (pip install {row['distribution'] or 'dokaseca-' + row['name']})"
        status = row["status"] + (f": {row['error']}" if row["error"] else "")
        table.add_row(row["name"], row["version"] or row["origin"], ", ".join(row["providers"]) or "-", ", ".join(row["hooks"]), sdk, status)
    _console().print(table)


def main() -> None:
    cli(prog_name="dokaseca")


if __name__ == "__main__":
    main()
