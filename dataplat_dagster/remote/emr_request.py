"""The StartJobRun request of one `dataplat run` on EMR Serverless."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataplat_dagster.remote.emr_package import JobArtifacts
from dataplat_dagster.remote.emr_resource import EmrServerlessResource

PROJECT_DIR = "project"  # the project archive's folder in the driver's working directory
PYTHON_DIR = "environment"  # the Python archive's folder
# the submitting machine's local state and endpoint mean nothing on the cluster; secrets must not
# travel in job parameters (visible in the EMR console): the driver reads them from SSM
NOT_FORWARDED = {"DATAPLAT_HOME", "DATAPLAT_AWS_ENDPOINT_URL", "DATAPLAT_PROJECT_DIR"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)


@dataclass(frozen=True)
class RunRequest:
    """Which windows of which dataflow the job runs (as `dataplat run` takes them)."""

    dataflow: str
    partition: str | None = None
    start: str | None = None
    end: str | None = None
    every: bool = False

    def dataplat_args(self) -> list[str]:
        args = ["run", self.dataflow]
        for flag, value in (("--partition", self.partition), ("--from", self.start)):
            if value:
                args += [flag, value]
        if self.end:
            args += ["--to", self.end]
        if self.every:
            args.append("--all")
        return [*args, "--json"]

    def label(self) -> str:
        if self.partition:
            return self.partition
        if self.every:
            return "all"
        return f"{self.start or ''}..{self.end or ''}"


def forwarded_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The submitting environment's DATAPLAT_* settings the driver needs (no secrets)."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if name.startswith("DATAPLAT_")
        and not name.startswith("DATAPLAT_EMR_")  # the submission's own settings
        and name not in NOT_FORWARDED
        and not SECRET_NAME.search(name)
        and value
    }


def start_job_run_params(
    emr: EmrServerlessResource,
    artifacts: JobArtifacts,
    request: RunRequest,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """The `start_job_run` arguments (the Pipes client adds its own driver variables and tags)."""
    driver_env = {**forwarded_env(environ), "DATAPLAT_ENV": "aws", **emr.driver_env}
    return {
        "applicationId": emr.application_id,
        "executionRoleArn": emr.execution_role_arn,
        "name": f"dataplat-{request.dataflow}-{request.label()}",
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": artifacts.entry_point_uri,
                "entryPointArguments": ["--project", PROJECT_DIR, *request.dataplat_args()],
                "sparkSubmitParameters": spark_submit_parameters(emr, artifacts, driver_env),
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {
                # Dagster Pipes reads the driver's messages from its stdout in CloudWatch
                "cloudWatchLoggingConfiguration": {"enabled": True, "logGroupName": emr.log_group}
            }
        },
        "executionTimeoutMinutes": emr.timeout_minutes,
        "tags": {"dataplat/dataflow": request.dataflow, "dataplat/windows": request.label()},
    }


def spark_submit_parameters(
    emr: EmrServerlessResource, artifacts: JobArtifacts, driver_env: Mapping[str, str]
) -> str:
    """`--conf` pairs: archives, the Python of the archive, driver variables, Spark settings."""
    archives = [f"{artifacts.project_archive_uri}#{PROJECT_DIR}"]
    conf: dict[str, str] = {}
    if emr.python_archive_uri:
        archives.append(f"{emr.python_archive_uri}#{PYTHON_DIR}")
        python = f"./{PYTHON_DIR}/bin/python"
        conf["spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON"] = python
        conf["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] = python
        conf["spark.executorEnv.PYSPARK_PYTHON"] = python
    conf["spark.archives"] = ",".join(archives)
    conf |= {f"spark.emr-serverless.driverEnv.{k}": v for k, v in driver_env.items()}
    conf |= emr.spark_conf
    for name, value in conf.items():
        # EMR splits the parameters on spaces: a value with one would become two arguments
        if not value or any(c.isspace() for c in value):
            raise ValueError(
                f"EMR Spark setting {name}={value!r} must be non-empty, without spaces"
            )
    return " ".join(f"--conf {name}={value}" for name, value in conf.items())
