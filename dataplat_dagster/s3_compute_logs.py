"""Where the aws instance keeps the steps' stdout/stderr (Dagster's compute logs): S3.

dagster.aws.yaml configures Dagster's own `S3ComputeLogManager` through this class so that an
empty `{env: ...}` value means "not set": an empty bucket keeps the compute logs on the local
disk (a PostgreSQL instance used without S3, as the tests' instances are), an empty endpoint or
prefix is AWS's own or Dagster's default. The variables: `compute_logs`.
"""

import os
from collections.abc import Mapping
from typing import Any

from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager


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
