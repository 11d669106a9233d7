"""The variables that say where the aws instance keeps the steps' compute logs (S3).

dagster.aws.yaml reads them (see `s3_compute_logs`); `dataplat` fills them from the profile
(`instance_env`) when they are not set. Kept apart from the log manager so that the CLI does
not import dagster-aws on every start.
"""

import os
from collections.abc import Mapping
from typing import Any

BUCKET, PREFIX, ENDPOINT = (
    "DATAPLAT_COMPUTE_LOGS_BUCKET",
    "DATAPLAT_COMPUTE_LOGS_PREFIX",
    "DATAPLAT_AWS_ENDPOINT_URL",
)
DEFAULT_PREFIX = "dagster/compute-logs"


def instance_env(env: str, globals_: Mapping[str, Any]) -> dict[str, str]:
    """The variables dagster.aws.yaml's compute logs read, as the profile would set them.

    The aws profile puts them in its bucket (`globals.bucket`) through its endpoint; any other
    profile keeps them on the local disk.
    """
    on_s3 = env == "aws"
    return {
        BUCKET: str(globals_.get("bucket", "")) if on_s3 else "",
        PREFIX: DEFAULT_PREFIX,
        ENDPOINT: str(globals_.get("endpoint_url", "")) if on_s3 else "",
    }


def set_instance_env(env: str, globals_: Mapping[str, Any]) -> None:
    """Set the compute-log variables the environment does not set already."""
    for name, value in instance_env(env, globals_).items():
        os.environ.setdefault(name, value)
