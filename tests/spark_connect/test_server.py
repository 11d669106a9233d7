"""The Spark Connect server of the tests answers SQL through `sc://`, with no JVM in the client.

Covers the fixture itself; the engine's work through it is in the other modules here.
"""

import pytest
from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def test_sql_runs_on_the_server(connect_session: SparkSession) -> None:
    rows = connect_session.sql(
        "select id % 3 as k, count(*) as n from range(10) group by k order by k"
    ).collect()
    assert [(row.k, row.n) for row in rows] == [(0, 4), (1, 3), (2, 3)]


def test_the_client_is_a_connect_session(connect_session: SparkSession) -> None:
    # a Connect client has no SparkContext: code that reaches for it must not run remotely
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    assert isinstance(connect_session, ConnectSession)
    assert connect_session.conf.get("spark.master") == "local[2]"
