"""`dataplat`: list, validate and run dataflows from a shell or an external scheduler.

Exit codes: 0 success, 10 success with warnings, 20 invalid configuration or parameters,
30 runtime error, 40 timeout, 50 cancelled. `--json` prints the result object.
"""

import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import dagster as dg

from dataplat_dagster import compute_logs, console, failure_summary, json_logs, run_health, runner
from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.config.substitution import unset_env_refs
from dataplat_dagster.environment import get_environment
from dataplat_dagster.jobs import job_specs
from dataplat_dagster.pools import ensure_writer_pools, writer_pool
from dataplat_dagster.remote.emr_cli import emr
from dataplat_dagster.supervisor import dagster_dev_command, supervise

if TYPE_CHECKING:  # the contract commands load SQLModel and Alembic: imported by `targets` only
    from dataplat_dagster.contracts.commands import Contracts
    from dataplat_dagster.contracts.deploy import TargetReport


def _project_dir(value: str | None) -> Path:
    root = Path(value or ".").resolve()
    if not (root / "assets").is_dir() or not (root / "resources").is_dir():
        raise click.UsageError(
            f"{root} is not a dataplat project (it needs assets/ and resources/); use --project-dir"
        )
    return root


def _emit(summary: runner.RunSummary, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
        return
    click.echo(f"status: {summary.status} ({summary.seconds:.1f}s, exit code {summary.exit_code})")
    if summary.log_file:
        click.echo(f"log: {summary.log_file}")
    for line in summary.errors:
        click.echo(f"error: {line}", err=True)
    for line in summary.warnings:
        click.echo(f"warning: {line}")
    if summary.artifacts:
        click.echo("outputs:")
        for artifact in summary.artifacts:
            click.echo(f"  {artifact}")


def _fail(code: int, message: str, as_json: bool, status: str = "invalid") -> None:
    summary = runner.RunSummary(status=status, exit_code=code, errors=[message])
    if as_json:
        _emit(summary, True)
    else:
        click.echo(message, err=True)
    sys.exit(code)


class _Cli(click.Group):
    """The `dataplat` group: an expected failure is one line and its exit code, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            explained = failure_summary.explain(exc, runner.EXIT_RUNTIME)
            if explained is None:
                raise  # a bug: its traceback is what a fix needs
            click.echo(f"error: {explained.line}", err=True)
            sys.exit(explained.exit_code)


@click.group(cls=_Cli)
@click.option(
    "--project-dir",
    envvar="DATAPLAT_PROJECT_DIR",
    help="folder with assets/ and resources/ (default: .)",
)
@click.pass_context
def main(context: click.Context, project_dir: str | None) -> None:
    """Declared dataflows on Dagster: list, validate and run them."""
    context.obj = {"project_dir": project_dir}


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.pass_context
def validate(context: click.Context, as_json: bool) -> None:
    """Load every declaration and the environment profile; report the first problem."""
    root = _project_dir(context.obj["project_dir"])
    try:
        from dataplat_dagster.definitions_builder import build_definitions

        definitions = build_definitions(root)
        dg.Definitions.validate_loadable(definitions)
    except (DeclarationError, ValueError) as exc:
        _fail(runner.EXIT_INVALID, str(exc), as_json)
    project = load_project(root, get_environment())
    names = [d.spec.dataflow for d in project.dataflows]
    unset = _unset_secrets(project)
    if as_json:
        status, code = ("valid_with_warnings", runner.EXIT_WARNINGS) if unset else ("valid", 0)
        click.echo(
            json.dumps({"status": status, "exit_code": code, "dataflows": names, "warnings": unset})
        )
    else:
        for line in unset:
            click.echo(f"warning: {line}")
        click.echo(
            f"valid{' with warnings' if unset else ''}: {len(names)} dataflow(s): "
            f"{', '.join(names)} (environment {project.profile.env})"
        )
    sys.exit(runner.EXIT_WARNINGS if unset else runner.EXIT_OK)


def _unset_secrets(project: Any) -> list[str]:
    """The profile's `{env: NAME}` secrets whose variable is not set in this environment."""
    file = f"resources/{project.profile.env}.yaml"
    return [
        f"{file}: {line}; runs that use it fail: export it"
        for line in unset_env_refs(project.profile.resources)
    ]


def _check_secrets(project: Any, as_json: bool) -> None:
    """Stop before the run when a secret of the profile is not set (exit 20, one line)."""
    unset = _unset_secrets(project)
    if unset:
        _fail(runner.EXIT_INVALID, "; ".join(unset), as_json)


@main.command("list")
@click.pass_context
def list_(context: click.Context) -> None:
    """Dataflows, their tables per layer and their partitioning."""
    root = _project_dir(context.obj["project_dir"])
    try:
        project = load_project(root, get_environment())
        plan = build_plan(project.dataflows)
    except DeclarationError as exc:
        _fail(runner.EXIT_INVALID, str(exc), False)
    for dataflow in project.dataflows:
        spec = dataflow.spec
        windows = spec.partitioning
        grain = (
            f"{windows.granularity or windows.cron} from {windows.start} ({windows.timezone})"
            if windows
            else "not partitioned"
        )
        click.echo(f"{spec.dataflow}  [{dataflow.file}]  {grain}")
        for table in plan.of_dataflow(spec.dataflow):
            click.echo(
                f"  {table.layer:9} {table.id.name:24} {'partitioned' if table.partitioned else ''}"
            )
        jobs = job_specs(plan, spec.dataflow)
        click.echo(
            f"  jobs (in the order dataplat run runs them): {', '.join(j.name for j in jobs)}"
        )


@main.command()
@click.option("--port", type=int, default=3000, show_default=True, help="port of the web UI")
@click.option("--host", default="127.0.0.1", show_default=True, help="address the UI listens on")
@click.pass_context
def ui(context: click.Context, port: int, host: str) -> None:
    """Start the Dagster UI and daemon on this project, with the same instance as `dataplat run`.

    Ctrl-C or SIGTERM stops the webserver, the daemon, the code server and any run worker.
    """
    root = _project_dir(context.obj["project_dir"])
    _prepare_instance(root)
    _reap_dead_runs_meanwhile(root)
    click.echo(f"Dagster UI on http://{host}:{port} (instance {os.environ['DAGSTER_HOME']})")
    command = dagster_dev_command(root / "workspace.yaml", port=port, host=host)
    sys.exit(supervise(command, cwd=root))


@main.command()
@click.pass_context
def env(context: click.Context) -> None:
    """Print `export DAGSTER_HOME=...`, the project's instance: `eval "$(dataplat env)"`.

    The aws profile adds the variables of where its instance keeps the compute logs.

    Dagster's own commands (`dagster job execute`, `dagster asset materialize`) then record
    their runs where `dataplat run` and `dataplat ui` do, instead of in a temporary instance.
    """
    root = _project_dir(context.obj["project_dir"])
    click.echo(f"export DAGSTER_HOME={shlex.quote(str(_prepare_instance(root)))}")
    if get_environment() == "aws":  # what dagster.aws.yaml reads besides the PostgreSQL ones
        for name in compute_logs.instance_env("aws", {}):
            click.echo(f"export {name}={shlex.quote(os.environ[name])}")


@main.command(
    "dagster",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def dagster_command(context: click.Context, args: tuple[str, ...]) -> None:
    """Run a `dagster` command on the project's instance (DAGSTER_HOME set as `dataplat env`).

    For example `dataplat dagster job execute -f definitions.py -j retail_job`.
    """
    root = _project_dir(context.obj["project_dir"])
    _prepare_instance(root)
    # the same interpreter's dagster, whatever PATH holds; replaces this process (signals, code)
    os.execv(sys.executable, [sys.executable, "-m", "dagster", *args])


def _prepare_instance(root: Path) -> Path:
    """DAGSTER_HOME set to the project's instance, with every dataflow's writer pool made."""
    try:
        project = load_project(root, get_environment())
    except DeclarationError as exc:
        _fail(runner.EXIT_INVALID, str(exc), False)
    home = project.profile.local_path(project.profile.globals_.get("home", ".dataplat"))
    compute_logs.set_instance_env(project.profile.env, project.profile.globals_)
    dagster_home = runner.ensure_dagster_home(home, root, project.profile.env)
    with runner.open_instance() as instance:
        ensure_writer_pools(instance, [loaded.spec.dataflow for loaded in project.dataflows])
    return dagster_home


def _run_options(command: Any) -> Any:
    """The options `run` and `run-table` share: windows, runs, timeout, output and logs."""
    options = [
        click.option("--partition", help="one window, for example 2024-01-03"),
        click.option("--from", "start", help="first window of a range"),
        click.option("--to", "end", help="last window of a range"),
        click.option("--all", "every", is_flag=True, help="every window of the dataflow"),
        click.option(
            "--single-run",
            is_flag=True,
            help="run the whole range in one run, whatever the dataflow's "
            "backfill.max_windows_per_run",
        ),
        click.option(
            "--windows-per-run",
            type=click.IntRange(min=1),
            help="run a range in runs of at most N windows (default: the dataflow's "
            "backfill.max_windows_per_run, else the whole range in one run)",
        ),
        click.option(
            "--run-per-window",
            is_flag=True,
            help="one run per window (as schedules and sensors launch them); slower for long "
            "ranges",
        ),
        click.option(
            "--timeout", type=float, help="seconds before the run is stopped (exit code 40)"
        ),
        click.option("--json", "as_json", is_flag=True, help="print the result object as JSON"),
        click.option(
            "--log-level",
            default="INFO",
            type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
            help="run log level (console and log file)",
        ),
        click.option(
            "--log-format",
            default="text",
            show_default=True,
            type=click.Choice(["text", "json"]),
            help="console log lines as text or as JSON objects, one a line (the log file is "
            "JSON lines either way)",
        ),
        click.option(
            "--verbose",
            is_flag=True,
            help="print every Dagster event with its stack trace (default: the platform's own "
            "lines)",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command()
@click.argument("dataflow")
@_run_options
@click.pass_context
def run(context: click.Context, dataflow: str, **options: Any) -> None:
    """Materialize a dataflow for one window, a range or every window.

    A range runs in as few runs as the dataflow's `backfill.max_windows_per_run` allows (one
    by default); a window that fails an ERROR check is left out below, the others are built.
    """
    _run(context, dataflow, None, False, **options)


@main.command("run-table")
@click.argument("table")
@click.option(
    "--with-upstream",
    is_flag=True,
    help="also build every table it reads from, directly or not",
)
@_run_options
@click.pass_context
def run_table(context: click.Context, table: str, with_upstream: bool, **options: Any) -> None:
    """Materialize one table, <dataflow>.<layer>.<table>, for a window, a range or every window.

    Its inputs are read as they are, unless --with-upstream builds them too. The run takes
    the dataflow's writer slot like `dataplat run`.
    """
    _run(context, table.split(".", 1)[0], table, with_upstream, **options)


def _run(
    context: click.Context,
    dataflow: str,
    table: str | None,
    with_upstream: bool,
    *,
    partition: str | None,
    start: str | None,
    end: str | None,
    every: bool,
    single_run: bool,
    windows_per_run: int | None,
    run_per_window: bool,
    timeout: float | None,
    as_json: bool,
    log_level: str,
    log_format: str,
    verbose: bool,
) -> None:
    """`dataplat run`, or `run-table` when `table` names one table of `dataflow`."""
    root = _project_dir(context.obj["project_dir"])
    try:
        from dataplat_dagster.definitions_builder import definitions_from

        project = load_project(root, get_environment())
        plan = build_plan(project.dataflows)
        definitions = definitions_from(project, plan)
        selection = None
        if table is not None:
            dataflow, selection = runner.select_tables(
                plan, definitions, table, with_upstream=with_upstream
            )
        jobs = runner.select_windows(
            plan, dataflow, partition=partition, start=start, end=end, every=every
        )
        size = runner.windows_per_run(
            plan,
            dataflow,
            single_run=single_run,
            windows_per_run=windows_per_run,
            run_per_window=run_per_window,
        )
    except (DeclarationError, runner.InvalidRequest) as exc:
        _fail(runner.EXIT_INVALID, str(exc), as_json)
    _check_secrets(project, as_json)
    home = project.profile.local_path(project.profile.globals_.get("home", ".dataplat"))
    log_file = json_logs.log_file_path(home, dataflow)
    definitions = console.with_console(definitions, verbose, log_format)
    console.setup_python_logging(log_level, log_format, dataflow, log_file)
    loggers = console.loggers_config(log_level, log_format, dataflow, log_file)
    summary = runner.RunSummary(
        dataflow=dataflow,
        log_file=str(log_file),
        globals=runner.shown_globals(project.profile.globals_),
        tables=[key.to_user_string() for key in selection or []],
    )
    compute_logs.set_instance_env(project.profile.env, project.profile.globals_)
    runner.ensure_dagster_home(home, root, project.profile.env)
    instance = runner.open_instance()
    ensure_writer_pools(instance, [dataflow])
    started = time.monotonic()
    stopper = run_health.Stopper(timeout)
    stopper.install()
    try:
        run_health.reap_dead_runs(
            instance, [writer_pool(loaded.spec.dataflow) for loaded in project.dataflows]
        )
        ok = True
        for job, keys in jobs.items():
            if keys == []:
                continue  # the requested windows are outside this job's partitioning
            chosen = _of_job(definitions, job, selection)
            if chosen == []:
                continue  # none of the asked tables is in this job
            ok = (
                runner.run_job(
                    definitions,
                    instance,
                    job,
                    keys,
                    summary,
                    log_level,
                    windows_per_run=size,
                    ui_base_url=project.profile.run.ui_base_url,
                    pools=[writer_pool(dataflow)],
                    stopper=stopper,
                    selection=chosen,
                    loggers=loggers,
                )
                and ok
            )
        runner.finish(summary, ok)
    except runner.Stopped as stopped:
        summary.run_ids.append(stopped.run_id)
        _stopped(summary, stopper, f": run {stopped.run_id} {stopped.status}")
    except KeyboardInterrupt:  # between runs: no run to end
        _stopped(summary, stopper, "")
    finally:
        stopper.uninstall()
    summary.seconds = round(time.monotonic() - started, 3)
    _log_result(summary)
    _emit(summary, as_json)
    if not as_json and project.profile.env == "local":
        click.echo(
            f"local state (warehouse, catalog.db, metrics.db, outbox, exports, dagster): {home}"
        )
    sys.exit(summary.exit_code)


def _of_job(
    definitions: dg.Definitions, job: str, selection: list[dg.AssetKey] | None
) -> list[dg.AssetKey] | None:
    """The selected assets this job builds (None: the whole job)."""
    if selection is None:
        return None
    graph = definitions.resolve_job_def(job).asset_layer.asset_graph
    return [key for key in selection if graph.has(key) and graph.get(key).is_executable]


def _log_result(summary: runner.RunSummary) -> None:
    """The outcome as the log file's last line, for whoever reads the log without the output."""
    failed = summary.exit_code >= runner.EXIT_RUNTIME
    record = logging.LogRecord(
        "dataplat_dagster.cli",
        logging.ERROR if failed else logging.INFO,
        __file__,
        0,
        "finished: status %s, exit code %s, runs %s%s",
        (
            summary.status,
            summary.exit_code,
            ", ".join(summary.run_ids) or "none",
            "".join(f"; error: {line}" for line in summary.errors)
            + "".join(f"; warning: {line}" for line in summary.warnings),
        ),
        None,
    )
    assert summary.log_file is not None
    json_logs.json_handler(summary.dataflow, summary.log_file).handle(record)


def _stopped(summary: runner.RunSummary, stopper: run_health.Stopper, what: str) -> None:
    """The summary of a `dataplat run` stopped by --timeout (exit 40), Ctrl-C or SIGTERM (50)."""
    if stopper.reason == "timeout":
        summary.status, summary.exit_code = "timeout", runner.EXIT_TIMEOUT
    else:
        summary.status, summary.exit_code = "cancelled", runner.EXIT_CANCELLED
    summary.errors.append(f"{stopper.describe()}{what}")


def _reap_dead_runs_meanwhile(root: Path) -> None:
    """While the UI runs: mark failed the `dataplat run` runs of this host whose process died."""
    _show_platform_log()
    project = load_project(root, get_environment())
    run_health.Reaper([writer_pool(loaded.spec.dataflow) for loaded in project.dataflows]).start()


def _show_platform_log() -> None:
    """Print the platform's own INFO lines (slot waits, dead runs) unless logging is set up."""
    platform = logging.getLogger("dataplat_dagster")
    if platform.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s - dataplat - %(levelname)s - %(message)s"))
    platform.addHandler(handler)
    platform.setLevel(logging.INFO)


main.add_command(emr)


@click.group()
def targets() -> None:
    """SQL targets of the table contracts: list them, deploy the contracts, check for drift."""


@targets.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the targets and tables as JSON")
@click.pass_context
def targets_list(context: click.Context, as_json: bool) -> None:
    """Every target (built in, or a connection of the profile) and every contract table."""
    from dataplat_dagster.contracts.commands import safe_url

    contracts = _contracts(context, as_json)
    shown = [
        {"target": t.name, "origin": t.origin, "url": safe_url(t.url)}
        for t in contracts.targets.values()
    ]
    tables = [
        {"table": c.table.name, "contract": c.contract, "declared_by": c.declared_by}
        for c in contracts.tables
    ]
    if as_json:
        click.echo(json.dumps({"targets": shown, "tables": tables}, indent=2))
        return
    click.echo("targets:")
    for target in shown:
        click.echo(f"  {target['target']} ({target['origin']}): {target['url']}")
    click.echo("contract tables:" if tables else "contract tables: none declared")
    for table in tables:
        click.echo(f"  {table['table']}: {table['contract']} ({', '.join(table['declared_by'])})")


_TARGET = click.option(
    "--target", "names", multiple=True, required=True, help="a target name; repeat for several"
)


@targets.command("deploy")
@_TARGET
@click.option("--dry-run", is_flag=True, help="say what would be created or added, change nothing")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.pass_context
def targets_deploy(
    context: click.Context, names: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Create missing contract tables and add missing columns; report drift it leaves alone."""
    contracts = _contracts(context, as_json)
    reports = _on_targets(contracts, names, "deploy", dry_run, as_json)
    _target_reports(reports, as_json, "would " if dry_run else "")


@targets.command("validate")
@_TARGET
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.pass_context
def targets_validate(context: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """Compare each contract table with the target's; exit 20 on any drift."""
    contracts = _contracts(context, as_json)
    _target_reports(_on_targets(contracts, names, "validate", False, as_json), as_json)


@targets.command("revision")
@click.option("--target", "name", required=True, help="the target compared with the contracts")
@click.option("-m", "--message", required=True, help="what the revision changes")
@click.pass_context
def targets_revision(context: click.Context, name: str, message: str) -> None:
    """Write what the target lacks as an Alembic revision under contracts/revisions/.

    The target is first brought to the latest revision; deploy applies the new one.
    """
    from dataplat_dagster.contracts.commands import revise

    contracts = _contracts(context, False)
    try:
        applied, path = revise(contracts, name, message)
    except ValueError as exc:  # an unknown target name
        _fail(runner.EXIT_INVALID, str(exc), False)
        return
    for revision in applied:
        click.echo(f"{name}: applied revision {revision}")
    if path is None:
        click.echo(f"{name}: every contract table matches: no revision written")
    else:
        click.echo(f"wrote {path.relative_to(contracts.root)}")


def _contracts(context: click.Context, as_json: bool) -> "Contracts":
    from dataplat_dagster.contracts.commands import load_contracts

    root = _project_dir(context.obj["project_dir"])
    try:
        return load_contracts(root)
    except (DeclarationError, ValueError) as exc:
        _fail(runner.EXIT_INVALID, str(exc), as_json)
        raise  # _fail exits


def _on_targets(
    contracts: "Contracts", names: tuple[str, ...], action: str, dry_run: bool, as_json: bool
) -> "list[TargetReport]":
    from dataplat_dagster.contracts.commands import run_on_targets

    try:
        return run_on_targets(contracts, list(names), action, dry_run)
    except ValueError as exc:  # an unknown target name
        _fail(runner.EXIT_INVALID, str(exc), as_json)
        raise  # _fail exits


def _target_reports(reports: "list[TargetReport]", as_json: bool, verb: str = "") -> None:
    """Exit 30 when a target could not be reached, 20 on drift, else 0."""
    if any(r.error for r in reports):
        code = runner.EXIT_RUNTIME
    else:
        code = runner.EXIT_INVALID if any(r.drift for r in reports) else runner.EXIT_OK
    if as_json:
        click.echo(
            json.dumps({"exit_code": code, "targets": [r.as_dict() for r in reports]}, indent=2)
        )
        sys.exit(code)
    for report in reports:
        if report.error:
            click.echo(f"error: {report.target}: {report.error}", err=True)
            continue
        for revision in report.revisions:
            click.echo(f"{report.target}: {verb}apply revision {revision}")
        for table in report.created:
            click.echo(f"{report.target}: {verb}create table {table}")
        for column in report.added:
            click.echo(f"{report.target}: {verb}add column {column}")
        if verb and report.upgrade:  # a dry run: the changes as an Alembic revision body
            click.echo(f"{report.target}: as Alembic operations:\n{report.upgrade.rstrip()}")
        for drift in report.drift:
            click.echo(f"drift: {drift}")
        if not (report.revisions or report.created or report.added or report.drift):
            click.echo(f"{report.target}: every contract table matches")
    sys.exit(code)


main.add_command(targets)

if __name__ == "__main__":
    main()
