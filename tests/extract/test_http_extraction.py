"""HTTP extraction against a local API: each pagination, auth, retries and bad answers.

The extraction's records are written through `write_jsonl` into a local file store, so these
tests also cover the atomic publish (a failure leaves the previous file).
"""

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dataplat_dagster.config.extracted import HttpSource
from dataplat_dagster.extract import ExtractionError
from dataplat_dagster.extract.http import HttpProgress, fetch_records, window_params
from dataplat_dagster.extract.writing import write_jsonl
from dataplat_dagster.resources.file_store import LocalFileStore
from tests.extract.api_server import ORDERS, TOKEN, serving

BERLIN = ZoneInfo("Europe/Berlin")
START, END = datetime(2024, 3, 31, tzinfo=BERLIN), datetime(2024, 4, 1, tzinfo=BERLIN)
WINDOW = {"since": "{start:%Y-%m-%dT%H:%M:%S%z}", "until": "{end:%Y-%m-%dT%H:%M:%S%z}"}
IN_WINDOW = [2, 3, 4, 5]  # 2024-03-31 in Berlin, a 23-hour day


def extract(url: str, **spec) -> tuple[list[dict], HttpProgress]:
    source = HttpSource(url=url, **spec)
    progress = HttpProgress()
    records = list(fetch_records(source, window_params(source, START, END), progress))
    return records, progress


@pytest.fixture(scope="module")
def api():
    with serving() as running:
        yield running


def test_page_numbers_with_the_window_as_parameters(api) -> None:
    records, progress = extract(
        f"{api.url}/pages",
        params=WINDOW,
        records_path="data.orders",
        pagination={"type": "page", "param": "page", "size_param": "per_page", "size": 2},
    )
    assert [r["order_id"] for r in records] == IN_WINDOW
    assert progress.pages == 3  # 2 + 2 + an empty page
    first = api.requests[-3]["query"]
    assert first["since"] == ["2024-03-31T00:00:00+0100"]
    assert first["until"] == ["2024-04-01T00:00:00+0200"]  # summer time began that night


def test_offsets_stop_at_a_short_page(api) -> None:
    records, progress = extract(
        f"{api.url}/offset",
        params=WINDOW,
        pagination={
            "type": "offset",
            "param": "offset",
            "start": 0,
            "size_param": "per_page",
            "size": 3,
        },
    )
    assert [r["order_id"] for r in records] == IN_WINDOW
    assert progress.pages == 2
    assert [r["query"]["offset"] for r in api.requests[-2:]] == [["0"], ["3"]]


def test_a_cursor_is_followed_until_it_is_null(api) -> None:
    records, progress = extract(
        f"{api.url}/cursor",
        params=WINDOW,
        records_path="items",
        pagination={
            "type": "cursor",
            "param": "cursor",
            "cursor_path": "meta.next",
            "size_param": "per_page",
            "size": 3,
        },
    )
    assert [r["order_id"] for r in records] == IN_WINDOW
    assert progress.pages == 2


def test_next_links_are_followed_as_given(api) -> None:
    records, progress = extract(
        f"{api.url}/links",
        records_path="results",
        pagination={"type": "next_link", "next_path": "links.next"},
    )
    assert records == ORDERS
    assert progress.pages == 3


def test_bearer_token_from_the_environment(api, monkeypatch) -> None:
    auth = {"type": "bearer", "secret_env": "ORDERS_API_TOKEN"}
    monkeypatch.setenv("ORDERS_API_TOKEN", "wrong")
    with pytest.raises(ExtractionError, match=r"refused \(401\).*http.auth"):
        extract(f"{api.url}/secure", params=WINDOW, auth=auth)
    monkeypatch.setenv("ORDERS_API_TOKEN", TOKEN)
    records, progress = extract(f"{api.url}/secure", params=WINDOW, auth=auth)
    assert [r["order_id"] for r in records] == IN_WINDOW
    assert TOKEN not in progress.requests[0]  # the secret travels in a header, not the URL
    monkeypatch.delenv("ORDERS_API_TOKEN")
    with pytest.raises(ExtractionError, match="ORDERS_API_TOKEN is not set"):
        extract(f"{api.url}/secure", params=WINDOW, auth=auth)


def test_429_is_retried_after_retry_after(api) -> None:
    api.flaky_calls = 0
    records, _ = extract(f"{api.url}/flaky", params=WINDOW, backoff=0)
    assert [r["order_id"] for r in records] == IN_WINDOW
    assert api.flaky_calls == 2


def test_429_without_retries_left_names_the_status(api) -> None:
    api.flaky_calls = 0
    with pytest.raises(ExtractionError, match="answered 429"):
        extract(f"{api.url}/flaky", params=WINDOW, retries=0)


def test_an_html_page_and_a_malformed_page_fail_and_keep_the_previous_file(
    api, tmp_path: Path
) -> None:
    store = LocalFileStore(root=str(tmp_path))
    (tmp_path / "api").mkdir()
    previous = tmp_path / "api" / "orders.jsonl"
    previous.write_text('{"order_id": 99}\n')
    for endpoint, expected in [
        ("html", r"not JSON \(text/html\).*Maintenance"),
        ("malformed", r"page 2\) is not JSON"),
    ]:
        source = HttpSource(
            url=f"{api.url}/{endpoint}", pagination={"type": "page", "param": "page", "size": 2}
        )
        with pytest.raises(ExtractionError, match=expected):
            write_jsonl(store, "api/orders.jsonl", fetch_records(source, {}, HttpProgress()))
        assert previous.read_text() == '{"order_id": 99}\n'
    assert [p.name for p in (tmp_path / "api").iterdir()] == ["orders.jsonl"]  # no temporary left


def test_records_are_written_as_json_lines(api, tmp_path: Path) -> None:
    store = LocalFileStore(root=str(tmp_path))
    source = HttpSource(
        url=f"{api.url}/offset",
        params=WINDOW,
        pagination={
            "type": "offset",
            "param": "offset",
            "start": 0,
            "size": 2,
            "size_param": "per_page",
        },
    )
    written = write_jsonl(
        store,
        "api/orders_20240331.jsonl",
        fetch_records(source, window_params(source, START, END), HttpProgress()),
    )
    lines = (tmp_path / "api" / "orders_20240331.jsonl").read_text().splitlines()
    assert [json.loads(line)["order_id"] for line in lines] == IN_WINDOW
    assert (
        written.rows == 4
        and written.bytes == (tmp_path / "api" / "orders_20240331.jsonl").stat().st_size
    )


def test_window_parameters_need_a_window() -> None:
    source = HttpSource(url="http://127.0.0.1:9/x", params=WINDOW)
    with pytest.raises(ExtractionError, match=r"http\.params\.since.*no windows"):
        window_params(source, None, None)


@pytest.mark.integration
def test_written_to_s3_whole_or_not_at_all(api, aws_credentials: str) -> None:
    from dataplat_dagster.resources.aws import AwsResource
    from dataplat_dagster.resources.file_store import S3FileStore

    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    s3 = aws.client("s3")
    s3.create_bucket(
        Bucket="extract", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    store = S3FileStore(aws=aws, bucket="extract", prefix="landing")
    source = HttpSource(
        url=f"{api.url}/links",
        records_path="results",
        pagination={"type": "next_link", "next_path": "links.next"},
    )
    written = write_jsonl(store, "api/orders.jsonl", fetch_records(source, {}, HttpProgress()))
    assert written.uri == "s3://extract/landing/api/orders.jsonl" and written.rows == len(ORDERS)
    body = s3.get_object(Bucket="extract", Key="landing/api/orders.jsonl")["Body"].read().decode()
    assert [json.loads(line) for line in body.splitlines()] == ORDERS
    broken = HttpSource(
        url=f"{api.url}/malformed", pagination={"type": "page", "param": "page", "size": 2}
    )
    with pytest.raises(ExtractionError, match="not JSON"):
        write_jsonl(store, "api/orders.jsonl", fetch_records(broken, {}, HttpProgress()))
    assert (
        s3.get_object(Bucket="extract", Key="landing/api/orders.jsonl")["Body"].read().decode()
        == body
    )
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="extract")["Contents"]] == [
        "landing/api/orders.jsonl"
    ]


@pytest.mark.integration
def test_an_api_key_from_ssm_parameter_store(api, aws_credentials: str) -> None:
    from dataplat_dagster.resources.aws import AwsResource

    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    aws.client("ssm").put_parameter(Name="/shop/api_token", Value=TOKEN, Type="SecureString")
    source = HttpSource(
        url=f"{api.url}/secure",
        params=WINDOW,
        auth={"type": "api_key", "header": "Authorization", "secret_ssm": "/shop/api_token"},
        headers={},
    )
    # the server wants "Bearer <token>" in Authorization: an api_key header sends the bare key
    with pytest.raises(ExtractionError, match="refused"):
        list(fetch_records(source, window_params(source, START, END), HttpProgress(), aws))
    bearer = source.model_copy(
        update={"auth": source.auth.model_copy(update={"type": "bearer"})}  # type: ignore[union-attr]
    )
    records = list(fetch_records(bearer, window_params(bearer, START, END), HttpProgress(), aws))
    assert [r["order_id"] for r in records] == IN_WINDOW
    missing = bearer.model_copy(
        update={"auth": bearer.auth.model_copy(update={"secret_ssm": "/shop/none"})}  # type: ignore[union-attr]
    )
    with pytest.raises(
        ExtractionError, match=r"secret_ssm: /shop/none unreadable.*ParameterNotFound"
    ):
        list(fetch_records(missing, {}, HttpProgress(), aws))
