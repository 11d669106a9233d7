"""Progress lines of a range run: about ten per table and stage, the last one says all."""

from dataplat_dagster.progress import WindowProgress


def said(total: int) -> list[str]:
    lines: list[str] = []
    progress = WindowProgress(lines.append, "raw/flights/flights", total, "written")
    for _ in range(total):
        progress.advance()
    return lines


def test_a_year_is_reported_about_ten_times_and_ends_with_every_window() -> None:
    lines = said(365)
    assert lines[0] == "raw/flights/flights: 37 of 365 windows written"
    assert lines[-1] == "raw/flights/flights: 365 of 365 windows written"
    assert len(lines) == 10


def test_a_short_range_reports_each_window() -> None:
    assert said(3) == [f"raw/flights/flights: {n} of 3 windows written" for n in (1, 2, 3)]


def test_one_window_says_nothing() -> None:
    assert said(1) == []
