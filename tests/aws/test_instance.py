"""Dagster's own state on PostgreSQL with the aws profile's instance settings (dagster.aws.yaml).

Uses the machine's PostgreSQL server and a fresh database; the run itself uses the local
resources, since what is tested here is where Dagster records it.
"""

from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from tests.conftest import PROJECT_ROOT, postgres_dagster_home, run_demo

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres_instance(
    postgres_database: str, local_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name, value in postgres_dagster_home(tmp_path / "dagster_home", postgres_database).items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.get()
    yield instance
    instance.dispose()


def test_runs_and_events_land_in_postgres(
    postgres_instance: dg.DagsterInstance, postgres_database: str
) -> None:
    assert type(postgres_instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(postgres_instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert postgres_instance.run_monitoring_enabled
    assert postgres_instance.run_retries_enabled and postgres_instance.run_retries_max_retries == 2
    result = run_demo(build_definitions(PROJECT_ROOT), postgres_instance, ["2024-01-03"])
    assert result.success
    with (
        psycopg2.connect(host="127.0.0.1", user="postgres", dbname=postgres_database) as db,
        db.cursor() as cursor,
    ):
        cursor.execute("select status from runs where run_id = %s", (result.run_id,))
        assert cursor.fetchone() == ("SUCCESS",)
        cursor.execute(
            "select count(*) from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        (materializations,) = cursor.fetchone()
        cursor.execute(
            "select count(*) from asset_check_executions where run_id = %s", (result.run_id,)
        )
        (checks,) = cursor.fetchone()
    # every table of the window, and the six quarantines (empty ones are materialized too)
    assert materializations == 12 + 6 and checks >= 20
