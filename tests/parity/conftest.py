"""The parity suite's engine fixture: each test runs once on Pandas and once on Spark."""

import pytest

from dataplat_dagster.engines.base import Engine
from tests.parity.helpers import PANDAS


@pytest.fixture(params=["pandas", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "pandas":
        return PANDAS
    return request.getfixturevalue("spark_engine")
