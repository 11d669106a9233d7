"""The parity suite's engine fixture: each test runs once on Pandas and once on Spark."""

import pytest

from dataplat_dagster.engines.base import Engine
from tests.parity.helpers import ENGINES, PANDAS


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "pandas":
        return PANDAS
    request.applymarker(pytest.mark.spark)
    return request.getfixturevalue("spark_engine")
