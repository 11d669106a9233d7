"""File-name patterns (`dataplat_dagster.config.path_pattern.PathPattern`).

Covers matching paths to windows (`{date:FMT}`, `*`), rejecting non-matching paths and
impossible dates, `static_prefix`, rendering export names and the constructor's errors.
Pure string work: no file system, no declarations, no Dagster.
"""

from datetime import datetime

import pytest

from dataplat_dagster.config.path_pattern import PathPattern

MATCHES = [
    ("retail/orders_{date:%Y%m%d}.csv", "retail/orders_20240102.csv", datetime(2024, 1, 2)),
    (
        "retail/orders_{date:%Y%m%d}_*.csv",
        "retail/orders_20240102_part-7.csv",
        datetime(2024, 1, 2),
    ),
    ("retail/orders_{date:%Y%m%d}_*.csv", "retail/orders_20240102_.csv", datetime(2024, 1, 2)),
    ("retail/{date}.csv", "retail/2024-03-04.csv", datetime(2024, 3, 4)),  # default format %Y-%m-%d
    ("logs/{date:%Y-%m-%dT%H%M}.jsonl", "logs/2024-03-04T1530.jsonl", datetime(2024, 3, 4, 15, 30)),
    ("x/{date:%d%b%Y}.csv", "x/05Jan2024.csv", datetime(2024, 1, 5)),
    ("x/{date:%y%j}.csv", "x/24060.csv", datetime(2024, 2, 29)),
    ("x/{date:%Y}/data.csv", "x/2024/data.csv", datetime(2024, 1, 1)),
    ("retail/customers.csv", "retail/customers.csv", None),
    ("retail/*.csv", "retail/anything.csv", None),
    ("/retail/customers.csv/", "retail/customers.csv", None),  # outer slashes do not matter
]


@pytest.mark.parametrize(("pattern", "path", "moment"), MATCHES)
def test_match(pattern: str, path: str, moment: datetime | None) -> None:
    found = PathPattern(pattern).match(path)
    assert found is not None
    assert found.path == path
    assert found.moment == moment


NO_MATCHES = [
    ("retail/orders_{date:%Y%m%d}.csv", "retail/orders_2024010.csv"),  # too few digits
    ("retail/orders_{date:%Y%m%d}.csv", "retail/orders_20241302.csv"),  # month 13
    ("retail/orders_{date:%Y%m%d}.csv", "retail/orders_20240230.csv"),  # 30 February
    ("retail/orders_{date:%Y%m%d}.csv", "retail/orders_2024010a.csv"),
    ("retail/orders_{date:%Y%m%d}.csv", "retail/orders_20240102.csv.bak"),  # whole path must match
    ("retail/orders_{date:%Y%m%d}.csv", "other/orders_20240102.csv"),
    ("retail/*.csv", "retail/sub/anything.csv"),  # * stays within one segment
    ("retail/*.csv", "retail/anything.json"),
    ("retail/orders.csv", "retail/ordersXcsv"),  # '.' is literal
    ("x/{date:%d%b%Y}.csv", "x/05Foo2024.csv"),
]


@pytest.mark.parametrize(("pattern", "path"), NO_MATCHES)
def test_no_match(pattern: str, path: str) -> None:
    assert PathPattern(pattern).match(path) is None


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("retail/orders_{date:%Y%m%d}.csv", "retail"),
        ("retail/2024/orders_*.csv", "retail/2024"),
        ("retail/sub*/orders.csv", "retail"),
        ("orders_{date}.csv", ""),
        ("*.csv", ""),
        ("retail/customers.csv", "retail"),
        ("a/b/c.csv", "a/b"),
    ],
)
def test_static_prefix(pattern: str, prefix: str) -> None:
    assert PathPattern(pattern).static_prefix == prefix


@pytest.mark.parametrize(
    ("pattern", "has_date"),
    [
        ("a/{date}.csv", True),
        ("a/{date:%Y}.csv", True),
        ("a/b.csv", False),
        ("a/{partition}.csv", False),
    ],
)
def test_has_date(pattern: str, has_date: bool) -> None:
    assert PathPattern(pattern).has_date is has_date


def test_render_all_fields() -> None:
    pattern = PathPattern("exports/{dataflow}/{table}/{partition}/{date:%Y/%m/%d}.csv")
    rendered = pattern.render(
        moment=datetime(2024, 1, 2, 3, 4), dataflow="retail", table="daily", partition="2024-01-02"
    )
    assert rendered == "exports/retail/daily/2024-01-02/2024/01/02.csv"


@pytest.mark.parametrize(
    ("pattern", "moment", "expected"),
    [
        (
            "retail/daily_revenue_{date:%Y%m%d}.csv",
            datetime(2024, 1, 7),
            "retail/daily_revenue_20240107.csv",
        ),
        ("out/{date}.parquet", datetime(2024, 12, 31, 23), "out/2024-12-31.parquet"),
        ("out/{date:%Y%m%d-%H%M}.csv", datetime(2024, 5, 6, 7, 8), "out/20240506-0708.csv"),
        ("out/{date:%Y%%%m}.csv", datetime(2024, 5, 6), "out/2024%05.csv"),
    ],
)
def test_render_date(pattern: str, moment: datetime, expected: str) -> None:
    assert PathPattern(pattern).render(moment=moment) == expected


def test_render_and_match_round_trip() -> None:
    pattern = PathPattern("retail/orders_{date:%Y%m%d}.csv")
    moment = datetime(2024, 2, 29)
    found = pattern.match(pattern.render(moment=moment))
    assert found is not None and found.moment == moment


def test_render_without_date_field_needs_no_moment() -> None:
    assert PathPattern("exports/{dataflow}/{partition}.csv").render(
        dataflow="retail", partition="all"
    ) == ("exports/retail/all.csv")


@pytest.mark.parametrize(
    ("pattern", "kwargs", "message"),
    [
        ("retail/orders_{date:%Y%m%d}_*.csv", {"moment": datetime(2024, 1, 1)}, "has a wildcard"),
        ("retail/orders_{date}.csv", {}, "needs a window for {date}"),
    ],
)
def test_render_errors(pattern: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        PathPattern(pattern).render(**kwargs)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a/{date}/{date:%Y}.csv", "more than one {date} field"),
        ("a/{date:%Y}/{date:%m}.csv", "more than one {date} field"),
        ("a/{date:%Y%m%d%Z}.csv", "'%Z' is not supported in file names"),
        ("a/{date:%Y-%B}.csv", "'%B' is not supported in file names"),
        ("a/{date:%s}.csv", "'%s' is not supported in file names"),
        ("a/{date:%Y%}.csv", "'%' is not supported in file names"),
        ("a/{date:YYYYMMDD}.csv", "date format 'YYYYMMDD' holds no strftime directive"),
        ("a/{date:yyyy-mm-dd}.csv", "for example {date:%Y%m%d}"),
        ("a/{date:%%Y}.csv", "date format '%%Y' holds no strftime directive"),
    ],
)
def test_constructor_errors(pattern: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        PathPattern(pattern)
    assert message in str(caught.value)
