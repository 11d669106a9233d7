"""Submit a dataflow run to EMR Serverless through Dagster Pipes and judge its outcome.

`emr_submit_job` is a one-op Dagster job: upload the artifacts, start the job run with
dagster-aws's `PipesEMRServerlessClient` (which adds the Pipes variables to the driver's
environment and polls the run), then read the driver's result object from CloudWatch. A run
that fails, is cancelled or brings no result back fails the op with a message that names the
job run, its state and EMR's reason, and where its logs are.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.pipes import PipesCloudWatchMessageReader, PipesEMRServerlessClient

from dataplat_dagster.remote.emr_driver import SUCCESS_CODES, SUMMARY_KEY
from dataplat_dagster.remote.emr_package import upload_artifacts
from dataplat_dagster.remote.emr_request import RunRequest, start_job_run_params
from dataplat_dagster.remote.emr_resource import EmrServerlessResource
from dataplat_dagster.runner import EXIT_CANCELLED, EXIT_RUNTIME


class EmrRunConfig(dg.Config):
    """The dataflow and windows to run on EMR, and the project to ship."""

    dataflow: str
    partition: str | None = None
    start: str | None = None
    end: str | None = None
    every: bool = False
    project_dir: str = "."


class _StartRecorder:
    """The boto3 client, remembering the started job run (the Pipes client keeps it to itself).

    It also points the message reader at the driver's stdout stream as soon as the job run
    exists, so Pipes messages are read while the job runs, and a driver's `closed` message ends
    the session at once even when the job then fails (the client alone waits for success).
    """

    def __init__(self, client: Any, reader: PipesCloudWatchMessageReader, log_group: str) -> None:
        self._client = client
        self._reader = reader
        self._log_group = log_group
        self.started: dict[str, Any] | None = None

    def start_job_run(self, **params: Any) -> dict[str, Any]:
        self.started = self._client.start_job_run(**params)
        self._reader.log_group = self._log_group
        self._reader.log_stream = driver_log_stream(self.started, "stdout")
        return self.started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def driver_log_stream(started: dict[str, Any], output: str) -> str:
    """The CloudWatch stream of the driver's stdout or stderr (first attempt)."""
    return (
        f"/applications/{started['applicationId']}/jobs/{started['jobRunId']}/SPARK_DRIVER/{output}"
    )


def _failure(message: str, code: int, metadata: dict[str, Any]) -> dg.Failure:
    return dg.Failure(description=message, metadata={**metadata, "exit_code": code})


def _explain_end(emr: EmrServerlessResource, client: _StartRecorder, label: str) -> dg.Failure:
    """The failure of a job run that ended FAILED or CANCELLED, with EMR's reason and logs."""
    started = client.started or {"applicationId": emr.application_id, "jobRunId": "?"}
    job_run_id = started["jobRunId"]
    job_run = client.get_job_run(applicationId=emr.application_id, jobRunId=job_run_id)["jobRun"]
    state = job_run["state"]
    logs = driver_log_stream(started, "stderr")
    message = (
        f"EMR Serverless job run {job_run_id} ({label}) ended {state}: "
        f"{job_run.get('stateDetails') or 'no reason given'}; driver log: CloudWatch "
        f"{emr.log_group} {logs}"
    )
    code = EXIT_CANCELLED if state in ("CANCELLED", "CANCELLING") else EXIT_RUNTIME
    return _failure(message, code, {"job_run_id": job_run_id, "state": state})


def _judge(summary: dict[str, Any] | None, metadata: dict[str, Any], label: str) -> dict[str, Any]:
    if summary is None:
        raise _failure(
            f"the EMR job run ({label}) succeeded but no result came back through Pipes: is "
            "CloudWatch logging allowed to the job's role, and does its image have dagster-pipes?",
            EXIT_RUNTIME,
            metadata,
        )
    code = int(summary.get("exit_code", EXIT_RUNTIME))
    if code not in SUCCESS_CODES:
        errors = "; ".join(summary.get("errors") or []) or "no error reported"
        raise _failure(
            f"dataplat run on EMR ({label}) ended {summary.get('status')}: {errors}",
            code,
            {**metadata, "summary": summary},
        )
    return summary


@dg.op(description="Run a dataflow's windows with `dataplat run` on EMR Serverless")
def emr_dataplat_run(
    context: dg.OpExecutionContext, config: EmrRunConfig, emr: EmrServerlessResource
) -> dict[str, Any]:
    request = RunRequest(config.dataflow, config.partition, config.start, config.end, config.every)
    label = f"{request.dataflow} {request.label()}"
    artifacts = upload_artifacts(emr.aws.client("s3"), emr.artifacts_uri, Path(config.project_dir))
    reader = PipesCloudWatchMessageReader(client=emr.aws.client("logs"))
    client = _StartRecorder(emr.aws.client("emr-serverless"), reader, emr.log_group)
    pipes = PipesEMRServerlessClient(
        client=client,  # type: ignore[arg-type]
        message_reader=reader,
        poll_interval=emr.poll_interval_seconds,
    )
    params = start_job_run_params(emr, artifacts, request, os.environ)
    try:
        invocation = pipes.run(context=context, start_job_run_params=params)  # type: ignore[arg-type]
    except RuntimeError as exc:  # the client's "EMR Serverless job failed", for FAILED/CANCELLED
        raise _explain_end(emr, client, label) from exc
    metadata = {
        "job_run_id": (client.started or {}).get("jobRunId"),
        "entry_point": artifacts.entry_point_uri,
        "project_archive": artifacts.project_archive_uri,
    }
    summaries = [m[SUMMARY_KEY] for m in invocation.get_custom_messages() if SUMMARY_KEY in m]
    summary = _judge(summaries[-1] if summaries else None, metadata, label)
    context.add_output_metadata({**metadata, "status": summary.get("status")})
    return summary


@dg.job(description="One `dataplat run` on EMR Serverless (see README, Spark on a cluster)")
def emr_submit_job() -> None:
    emr_dataplat_run()
