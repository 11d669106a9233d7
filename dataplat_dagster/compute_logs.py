"""Where the aws instance keeps the steps' stdout/stderr (Dagster's compute logs): S3.

dagster.aws.yaml configures Dagster's own `S3ComputeLogManager` through this class so that an
empty `{env: ...}` value means "not set": an empty bucket keeps the compute logs on the local
disk (a PostgreSQL instance used without S3, as the tests' instances are), an empty endpoint or
prefix is AWS's own or Dagster's default. `dataplat` fills the variables from the profile
(`instance_env`) when they are not set.
"""

import os
from collections.abc import Mapping
from typing import Any

from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

BUCKET, PREFIX, ENDPOINT = (
    "DATAPLAT_COMPUTE_LOGS_BUCKET",
    "DATAPLAT_COMPUTE_LOGS_PREFIX",
    "DATAPLAT_AWS_ENDPOINT_URL",
)
DEFAULT_PREFIX = "dagster/compute-logs"


class S3ComputeLogs(S3ComputeLogManager):
    """`S3ComputeLogManager` whose empty settings are left out (empty bucket: local disk)."""

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> S3ComputeLogManager | LocalComputeLogManager:
        config = {key: value for key, value in config_value.items() if value != ""}
        if "bucket" not in config:
            home = os.environ.get("DAGSTER_HOME", ".")
            return LocalComputeLogManager(os.path.join(home, "storage"), inst_data=inst_data)
        return S3ComputeLogManager(inst_data=inst_data, **config)


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
