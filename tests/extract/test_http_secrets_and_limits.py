"""HTTP extraction: secrets in headers, parameters and the token; the rate limit; backoff.

`{env: NAME}` reaches the model as an EnvRef and `{ssm: /name}` as `ssm:/name` (the loader's
forms); both are read when the extraction starts and never shown in the recorded URLs.
Timings are asserted on the server's arrival times, loosely (lower bounds only).
"""

from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from dataplat_dagster.config.extracted import HttpSource
from dataplat_dagster.config.substitution import EnvRef
from dataplat_dagster.extract import ExtractionError
from dataplat_dagster.extract.http import HttpProgress, fetch_records, window_params
from tests.extract.api_server import TOKEN, serving

BERLIN = ZoneInfo("Europe/Berlin")
START, END = datetime(2024, 3, 31, tzinfo=BERLIN), datetime(2024, 4, 1, tzinfo=BERLIN)
WINDOW = {"since": "{start:%Y-%m-%dT%H:%M:%S%z}", "until": "{end:%Y-%m-%dT%H:%M:%S%z}"}
IN_WINDOW = [2, 3, 4, 5]


@pytest.fixture(scope="module")
def api():
    with serving() as running:
        yield running


def extract(source: HttpSource, aws=None) -> tuple[list[dict], HttpProgress]:
    progress = HttpProgress()
    records = list(fetch_records(source, window_params(source, START, END), progress, aws))
    return records, progress


@pytest.mark.integration
def test_headers_parameters_and_token_from_the_environment_and_ssm(
    api, aws_credentials: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataplat_dagster.resources.aws import AwsResource

    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    key = "k&y=1 secret"  # characters a URL must quote
    aws.client("ssm").put_parameter(Name="/shop/key", Value=key, Type="SecureString")
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    monkeypatch.setenv("SHOP_TENANT", "tenant-7")
    source = HttpSource(
        url=f"{api.url}/secure",
        params={**WINDOW, "key": "ssm:/shop/key"},
        headers={"X-Tenant": EnvRef("SHOP_TENANT"), "X-Plain": "plain"},
        auth={"type": "bearer", "secret": EnvRef("SHOP_TOKEN")},
    )
    records, progress = extract(source, aws)
    assert [r["order_id"] for r in records] == IN_WINDOW  # /secure checked the bearer token
    sent = api.requests[-1]
    assert sent["query"]["key"] == [key]
    assert sent["headers"]["X-Tenant"] == "tenant-7" and sent["headers"]["X-Plain"] == "plain"
    (shown,) = progress.requests
    assert "key=***" in shown and "secret" not in shown and "since=2024-03-31" in shown


def test_an_unset_variable_is_named_with_its_field(api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_TENANT", raising=False)
    source = HttpSource(url=f"{api.url}/pages", headers={"X-Tenant": EnvRef("SHOP_TENANT")})
    with pytest.raises(
        ExtractionError, match=r"http.headers.X-Tenant: \{env: SHOP_TENANT\} is not set"
    ):
        extract(source)
    token = HttpSource(url=f"{api.url}/secure", auth={"type": "bearer", "secret": "ssm:/shop/t"})
    with pytest.raises(
        ExtractionError, match=r"http.auth.secret: \{ssm: /shop/t\} needs the profile's aws"
    ):
        extract(token)


def test_requests_are_spaced_by_the_rate_limit(api) -> None:
    rate = 20.0  # requests per second: five pages take at least 0.2 s
    source = HttpSource(
        url=f"{api.url}/pages",
        params=WINDOW,
        records_path="data.orders",
        pagination={"type": "page", "param": "page", "size_param": "per_page", "size": 1},
        requests_per_second=rate,
    )
    before = len(api.requests)
    records, progress = extract(source)
    assert [r["order_id"] for r in records] == IN_WINDOW
    arrivals = [r["at"] for r in api.requests[before:]]
    assert progress.pages == len(arrivals) == 5  # four records, then an empty page
    gaps = [later - earlier for earlier, later in pairwise(arrivals)]
    assert min(gaps) >= 0.8 / rate, gaps  # loosely: the client spaces them 1/rate apart


def test_a_server_error_is_retried_with_backoff(api) -> None:
    backoff = 0.05
    source = HttpSource(url=f"{api.url}/unstable", params=WINDOW, retries=3, backoff=backoff)
    before = len(api.requests)
    records, progress = extract(source)
    assert [r["order_id"] for r in records] == IN_WINDOW
    arrivals = [r["at"] for r in api.requests[before:]]
    assert len(arrivals) == 3 and progress.pages == 1  # two 503s retried, one page
    # urllib3 retries the first failure at once, then waits backoff * 2 ** (n - 1)
    assert arrivals[2] - arrivals[1] >= 0.8 * backoff * 2
