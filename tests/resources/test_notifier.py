"""OutboxNotifier (email messages as `.eml` files) and the wording of notices.

Covers: one `.eml` per notice, parsed back with the `email` package (From, To merging the
default and the notice's recipients without duplicates, Subject prefix, body, kind
header), the error when nobody would receive a notice, no temporary files left behind,
and `output_notice` / `failure_notice` texts with and without a UI address. The outbox is
on tmp_path; SES, SMTP and Dagster hooks are not touched.
"""

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from dataplat_dagster.notifications import describe_windows, failure_notice, output_notice
from dataplat_dagster.resources.notifier import Notice, OutboxNotifier


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def notifier(outbox: Path) -> OutboxNotifier:
    return OutboxNotifier(
        folder=str(outbox),
        sender="dataplat@example.org",
        recipients=["team@example.org", "ops@example.org"],
    )


def parse(path: Path):
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def test_send_writes_one_eml_with_headers_and_body(notifier: OutboxNotifier, outbox: Path) -> None:
    notice = Notice(
        "output",
        "output ready: sales",
        "Line one.\nLine two.",
        ("boss@example.org", "team@example.org"),
    )
    sent = notifier.send(notice)

    files = list(outbox.iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml"
    message = parse(files[0])
    assert message["From"] == "dataplat@example.org"
    assert [a.addr_spec for a in message["To"].addresses] == [
        "team@example.org",
        "ops@example.org",
        "boss@example.org",
    ]
    assert message["Subject"] == "[dataplat] output ready: sales"
    assert message["X-Dataplat-Kind"] == "output"
    assert message["Message-ID"].endswith("@example.org>")
    assert message["Date"]
    assert message.get_content().splitlines() == ["Line one.", "Line two."]
    assert sent["Subject"] == message["Subject"]
    assert "-output-" in files[0].name


def test_each_notice_is_its_own_file_and_messages_reads_them(
    notifier: OutboxNotifier, outbox: Path
) -> None:
    notifier.send(Notice("output", "first", "1"))
    notifier.send(Notice("failure", "second", "2"))

    assert len(list(outbox.glob("*.eml"))) == 2
    assert sorted(m["Subject"] for m in notifier.messages()) == [
        "[dataplat] first",
        "[dataplat] second",
    ]
    assert not [p for p in outbox.iterdir() if p.name.endswith(".tmp")]


def test_a_custom_or_empty_subject_prefix(outbox: Path) -> None:
    custom = OutboxNotifier(
        folder=str(outbox / "a"), sender="x@y.z", recipients=["a@y.z"], subject_prefix="[prod]"
    )
    bare = OutboxNotifier(
        folder=str(outbox / "b"), sender="x@y.z", recipients=["a@y.z"], subject_prefix=""
    )

    assert custom.send(Notice("output", "done", "b"))["Subject"] == "[prod] done"
    assert bare.send(Notice("output", "done", "b"))["Subject"] == "done"
    assert parse(next((outbox / "b").glob("*.eml")))["Subject"] == "done"


def test_notice_recipients_alone_are_enough(outbox: Path) -> None:
    notifier = OutboxNotifier(folder=str(outbox), sender="x@y.z")
    notifier.send(Notice("output", "s", "b", ("only@y.z", "only@y.z")))

    [message] = notifier.messages()
    assert message["To"] == "only@y.z"


def test_no_recipients_raises_and_writes_nothing(outbox: Path) -> None:
    notifier = OutboxNotifier(folder=str(outbox), sender="x@y.z")

    with pytest.raises(ValueError, match="no recipients") as caught:
        notifier.send(Notice("failure", "nobody listens", "body"))
    assert "nobody listens" in str(caught.value)
    assert not outbox.exists() or list(outbox.iterdir()) == []


def test_output_notice_wording_without_ui() -> None:
    notice = output_notice(
        table="output.retail.daily_revenue_csv",
        keys=["2024-01-01", "2024-01-02", "2024-01-03"],
        locations=["file:///exports/a.csv", "file:///exports/b.csv"],
        rows=42,
        run_id="abc123",
        ui_base_url=None,
        recipients=["finance@example.org"],
    )

    assert notice.kind == "output"
    assert notice.recipients == ("finance@example.org",)
    assert (
        notice.subject
        == "output ready: output.retail.daily_revenue_csv for 2024-01-01 .. 2024-01-03 (3 windows)"
    )
    lines = notice.body.splitlines()
    assert lines[0] == "Output output.retail.daily_revenue_csv was generated."
    assert "Window(s): 2024-01-01 .. 2024-01-03 (3 windows)" in lines
    assert "Rows: 42" in lines
    assert ["  file:///exports/a.csv", "  file:///exports/b.csv"] == [
        line for line in lines if line.startswith("  ")
    ]
    assert lines[-1] == "Run: run abc123"


def test_output_notice_links_the_run_in_the_ui() -> None:
    notice = output_notice(
        table="t",
        keys=["2024-01-05"],
        locations=[],
        rows=0,
        run_id="r-1",
        ui_base_url="http://dagster.local:3000/",
        recipients=[],
    )

    assert notice.subject == "output ready: t for 2024-01-05"
    assert "Run: http://dagster.local:3000/runs/r-1" in notice.body.splitlines()
    assert notice.recipients == ()


def test_windows_of_an_unpartitioned_table() -> None:
    assert describe_windows([None]) == "all data (not partitioned)"
    assert describe_windows([]) == "all data (not partitioned)"
    notice = output_notice(
        table="t", keys=[None], locations=["x"], rows=1, run_id="r", ui_base_url=None, recipients=[]
    )
    assert "for all data (not partitioned)" in notice.subject


def test_failure_notice_wording(notifier: OutboxNotifier) -> None:
    with_ui = failure_notice(
        what="staging.retail.orders",
        windows="2024-01-02",
        run_id="run-9",
        error="KeyError: 'amount'",
        ui_base_url="https://ui.example.org",
        job="retail_job",
    )
    without_ui = failure_notice(
        what="raw.retail.orders",
        windows="2024-01-02",
        run_id="run-9",
        error="boom",
        ui_base_url=None,
    )

    assert with_ui.kind == "failure"
    assert with_ui.subject == "FAILED: staging.retail.orders for 2024-01-02"
    lines = with_ui.body.splitlines()
    assert lines[0] == "staging.retail.orders failed."
    assert "Job: retail_job" in lines
    assert "Window(s): 2024-01-02" in lines
    assert "Run: https://ui.example.org/runs/run-9" in lines
    assert lines[-2:] == ["Error:", "KeyError: 'amount'"]
    assert "Run: run run-9" in without_ui.body.splitlines()
    assert "Job:" not in without_ui.body
    # a failure notice goes to the notifier's default recipients
    message = notifier.send(with_ui)
    assert message["To"] == "team@example.org, ops@example.org"
    assert message["Subject"] == "[dataplat] FAILED: staging.retail.orders for 2024-01-02"
