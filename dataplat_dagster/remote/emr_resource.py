"""Where and how dataflow runs go to EMR Serverless: application, role, artifacts, Spark settings."""

import dagster as dg
from pydantic import Field

from dataplat_dagster.resources.aws import AwsResource

DEFAULT_LOG_GROUP = "/aws/emr-serverless"


class EmrServerlessResource(dg.ConfigurableResource):
    """An EMR Serverless Spark application that runs `dataplat run` jobs of this project.

    The application, its execution role and the Python archive exist already (see the README,
    "Spark on a cluster"); submitting uploads the project and the entry point under
    `artifacts_uri` and starts a job run on the application.
    """

    aws: AwsResource
    application_id: str = Field(description="EMR Serverless application (release emr-7.x, Spark)")
    execution_role_arn: str = Field(
        description="IAM role the job runs as: reads the artifacts, reads and writes the warehouse"
    )
    artifacts_uri: str = Field(
        description="s3:// prefix where the entry point and the project archive are uploaded"
    )
    python_archive_uri: str | None = Field(
        None,
        description="s3:// URI of a venv-pack archive with dataplat_dagster installed "
        "(built on Amazon Linux for the application's architecture); empty: the image has it",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Spark settings for the job (spark.executor.memory, ...)",
    )
    driver_env: dict[str, str] = Field(
        default_factory=dict,
        description="environment of the driver besides the forwarded DATAPLAT_* variables",
    )
    log_group: str = Field(DEFAULT_LOG_GROUP, description="CloudWatch log group of the job")
    timeout_minutes: int = Field(720, ge=5, description="the job run's executionTimeoutMinutes")
    poll_interval_seconds: float = Field(
        30.0, gt=0, description="how often the job's state is asked"
    )
