"""`dataplat emr submit <dataflow>`: one `dataplat run` on EMR Serverless, recorded as a Dagster run.

The EMR settings come from options or their DATAPLAT_EMR_* variables; region, endpoint and
credentials from the profile's `aws` resource. The exit code is the remote run's own (0, 10,
30...), 30 when the EMR job failed and 50 when it was cancelled.
"""

import json
import sys
from pathlib import Path
from typing import Any

import click

from dataplat_dagster import runner


@click.group("emr")
def emr() -> None:
    """Run dataflows on AWS EMR Serverless (see README, "Spark on a cluster")."""


@emr.command("submit")
@click.argument("dataflow")
@click.option("--partition", help="one window, for example 2024-01-03")
@click.option("--from", "start", help="first window of a range")
@click.option("--to", "end", help="last window of a range")
@click.option("--all", "every", is_flag=True, help="every window of the dataflow")
@click.option("--application-id", envvar="DATAPLAT_EMR_APPLICATION_ID", required=True)
@click.option("--execution-role-arn", envvar="DATAPLAT_EMR_EXECUTION_ROLE_ARN", required=True)
@click.option(
    "--artifacts-uri",
    envvar="DATAPLAT_EMR_ARTIFACTS_URI",
    required=True,
    help="s3:// prefix for the entry point and the project archive",
)
@click.option(
    "--python-archive-uri",
    envvar="DATAPLAT_EMR_PYTHON_ARCHIVE_URI",
    help="s3:// venv-pack archive with dataplat_dagster (else the application's image has it)",
)
@click.option("--conf", "conf", multiple=True, help="a Spark setting NAME=VALUE (repeatable)")
@click.option("--poll-interval", type=float, default=30.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the result object as JSON")
@click.pass_context
def submit(context: click.Context, dataflow: str, **options: Any) -> None:
    """Ship the project to S3, run `dataplat run DATAFLOW ...` on EMR and wait for its end."""
    # imported here: boto3 and the Pipes clients are slow to import and only this command needs them
    from dataplat_dagster.config.loader import load_project
    from dataplat_dagster.environment import get_environment
    from dataplat_dagster.remote.emr_resource import EmrServerlessResource
    from dataplat_dagster.remote.emr_submit import emr_submit_job
    from dataplat_dagster.resources import build_resources

    root = Path(context.find_root().obj.get("project_dir") or ".").resolve()
    project = load_project(root, get_environment())
    resource = EmrServerlessResource(
        aws=build_resources(project.profile)["aws"],
        application_id=options["application_id"],
        execution_role_arn=options["execution_role_arn"],
        artifacts_uri=options["artifacts_uri"],
        python_archive_uri=options["python_archive_uri"],
        spark_conf=_pairs(options["conf"]),
        poll_interval_seconds=options["poll_interval"],
    )
    home = project.profile.local_path(project.profile.globals_.get("home", ".dataplat"))
    runner.ensure_dagster_home(home, root, project.profile.env)
    run_config = {
        key: options[key] for key in ("partition", "start", "end", "every") if options[key]
    }
    result = emr_submit_job.execute_in_process(
        run_config={
            "ops": {
                "emr_dataplat_run": {
                    "config": {"dataflow": dataflow, "project_dir": str(root), **run_config}
                }
            }
        },
        resources={"emr": resource},
        instance=runner.open_instance(),
        raise_on_error=False,
    )
    summary, code = _outcome(result)
    if options["as_json"]:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        click.echo(f"status: {summary.get('status')} (exit code {code}, run {result.run_id})")
        for line in summary.get("errors") or []:
            click.echo(f"error: {line}", err=True)
    sys.exit(code)


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    pairs = dict(value.partition("=")[::2] for value in values)
    empty = [name for name, value in pairs.items() if not value]
    if empty:
        raise click.BadParameter(
            f"expected NAME=VALUE, got {', '.join(empty)}", param_hint="--conf"
        )
    return pairs


def _outcome(result: Any) -> tuple[dict[str, Any], int]:
    """The remote run's result object and exit code, or the submission's failure as one."""
    if result.success:
        summary = result.output_for_node("emr_dataplat_run")
        return summary, int(summary.get("exit_code", 0))
    failure = result.get_step_failure_events()[0].step_failure_data
    user = failure.user_failure_data
    if user is None:  # not one of ours: an AWS error, a bug
        return {"status": "failed", "errors": [failure.error.message.strip()]}, runner.EXIT_RUNTIME
    values = {key: getattr(value, "value", value) for key, value in user.metadata.items()}
    code = int(values.get("exit_code", runner.EXIT_RUNTIME))
    summary = values.get("summary") or {"status": "failed"}
    return {**summary, "errors": [user.description]}, code
