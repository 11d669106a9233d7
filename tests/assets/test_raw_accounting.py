"""The raw count audit compares with the landing files' lines, not with what the parser returned.

A reader that loses a line cannot be made from a real file any more (the corpus in
tests/corpus shows each former way now accounted for), so this test wraps the real reader
to drop one row, a deliberate fault: the audit then fails in the file's window with the
line missing, the window's metadata names the file, and a window of another file passes.
For a file covering many windows the loss counts in every window of the run. Runs the raw
asset in process on a temporary project; no other layer.
"""

from pathlib import Path

import dagster as dg
import pytest

import dataplat_dagster.assets.raw as raw_module
from dataplat_dagster.engines.landing import LandingRead
from tests.checks.helpers import evaluations, make_shop, materialized, meta

DAY1, DAY2 = "2024-01-02", "2024-01-03"
LOSSY = "shop/orders_20240102.csv"


def project(landing: str) -> str:
    return f"""\
dataflow: shop
owners: [team:shop]
partitioning: {{granularity: daily, timezone: UTC, start: "2024-01-01", end: "2024-01-10"}}
landing:
  orders: {{{landing}}}
raw:
  orders:
    from: landing.orders
    rules: [{{count_audit: {{tolerance_pct: 0}}}}]
"""


@pytest.fixture
def lossy_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real reader, except that it loses the last row of one file (a simulated bug)."""
    real = raw_module.read_landing_file

    def losing(*args: object, **kwargs: object) -> LandingRead:
        read = real(*args, **kwargs)
        if args[2] in (LOSSY, "shop/all.csv"):
            return LandingRead(
                read.rows.slice(0, read.rows.num_rows - 1), read.rejects, read.source_rows
            )
        return read

    monkeypatch.setattr(raw_module, "read_landing_file", losing)


@pytest.mark.usefixtures("lossy_reader")
def test_a_lost_line_fails_the_audit_of_its_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    landing = 'path: "shop/orders_{date:%Y%m%d}.csv", schema: {id: int64}'
    shop = make_shop(tmp_path, monkeypatch, project(landing))
    (shop.landing / LOSSY).write_text("id\n1\n2\n3\n")
    (shop.landing / "shop/orders_20240103.csv").write_text("id\n4\n5\n")
    result = shop.run(
        instance, [DAY1, DAY2], only=["raw.shop.orders", "raw.shop.orders__quarantine"]
    )
    audits = {e.partition: e for e in evaluations(result, "count_audit")}
    assert not audits[DAY1].passed and audits[DAY2].passed
    day1 = meta(audits[DAY1])
    assert (day1["source_count"], day1["target_count"], day1["difference"]) == (3, 2, -1)
    tables = materialized(result, "raw", "shop", "orders")
    assert tables and all(t.metadata["lines_unaccounted"].value == {LOSSY: 1} for t in tables)


@pytest.mark.usefixtures("lossy_reader")
def test_a_loss_in_a_file_of_many_windows_fails_every_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    landing = "path: shop/all.csv, partition_column: day, schema: {id: int64, day: date}"
    shop = make_shop(tmp_path, monkeypatch, project(landing))
    (shop.landing / "shop/all.csv").write_text("id,day\n1,2024-01-02\n2,2024-01-03\n3,2024-01-03\n")
    result = shop.run(
        instance, [DAY1, DAY2], only=["raw.shop.orders", "raw.shop.orders__quarantine"]
    )
    audits = evaluations(result, "count_audit")
    assert sorted(e.partition for e in audits) == [DAY1, DAY2]
    assert not any(e.passed for e in audits)  # which window lost the line is not known
