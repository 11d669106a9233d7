"""Records of one window from a REST endpoint, page by page.

requests with urllib3's `Retry` (429/5xx and lost connections, exponential backoff, Retry-After
honoured) and pagination written here: dlt's rest_api source installs cleanly with the pinned
stack but adds fifteen packages and loads through its own pipeline into its own file layout
(load ids, a state folder), not one file per window at the source's path in the file store.
"""

import os
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

from dataplat_dagster.config.extracted import HttpSource, is_secret
from dataplat_dagster.config.substitution import EnvRef
from dataplat_dagster.extract import ExtractionError
from dataplat_dagster.resources.aws import SSM_PREFIX, AwsResource

if TYPE_CHECKING:  # requests is imported by an extraction, not by every load of the definitions
    import requests


@dataclass
class HttpProgress:
    """What the extraction did, for the landing asset's metadata."""

    pages: int = 0
    requests: list[str] = field(default_factory=list)  # URLs without secrets, first few


def window_params(
    spec: HttpSource, start: datetime | None, end: datetime | None
) -> dict[str, str | EnvRef]:
    """The declared query parameters with the window's bounds filled in (secrets: later)."""
    params: dict[str, str | EnvRef] = {}
    for name, template in spec.params.items():
        if is_secret(template):
            params[name] = template  # read by fetch_records, which has the aws resource
            continue
        try:
            params[name] = template.format(start=start, end=end)  # type: ignore[union-attr]
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as error:
            raise ExtractionError(
                f"http.params.{name}: {template!r} cannot be filled "
                f"({'the source has no windows' if start is None else error})"
            ) from error
    return params


def secret_value(value: str | EnvRef, field: str, aws: AwsResource | None) -> str:
    """`{env: NAME}` from the environment, `{ssm: /name}` from Parameter Store, text as it is."""
    if isinstance(value, EnvRef):
        found = os.environ.get(value.name)
        if not found:
            raise ExtractionError(f"{field}: {{env: {value.name}}} is not set")
        return found
    if not value.startswith(SSM_PREFIX):
        return value
    name = value[len(SSM_PREFIX) :]
    if aws is None:
        raise ExtractionError(f"{field}: {{ssm: {name}}} needs the profile's aws resource")
    try:
        return str(aws.secret(value))
    except Exception as error:  # botocore's errors: not found, access denied, no endpoint
        raise ExtractionError(f"{field}: {{ssm: {name}}} unreadable: {error}") from error


def auth_secret(spec: HttpSource, aws: AwsResource | None) -> str | None:
    """The token or key of `http.auth`, from the environment or SSM Parameter Store."""
    auth = spec.auth
    if auth is None:
        return None
    if auth.secret is not None:
        return secret_value(auth.secret, "http.auth.secret", aws)
    if auth.secret_env is not None:
        secret = os.environ.get(auth.secret_env)
        if not secret:
            raise ExtractionError(f"http.auth.secret_env: {auth.secret_env} is not set")
        return secret
    assert aws is not None and auth.secret_ssm is not None
    try:
        return aws.secret(f"{SSM_PREFIX}{auth.secret_ssm}")
    except Exception as error:  # botocore's errors: not found, access denied, no endpoint
        raise ExtractionError(
            f"http.auth.secret_ssm: {auth.secret_ssm} unreadable: {error}"
        ) from error


def session_for(
    spec: HttpSource, secret: str | None, aws: AwsResource | None = None
) -> "requests.Session":
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=spec.retries,
        backoff_factor=spec.backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET",),
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer is judged below, with its status in the error
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers.update(
        {
            name: secret_value(value, f"http.headers.{name}", aws)
            for name, value in spec.headers.items()
        }
    )
    session.headers.setdefault("Accept", "application/json")
    if spec.auth is not None and secret is not None:
        if spec.auth.type == "bearer":
            session.headers["Authorization"] = f"Bearer {secret}"
        else:
            session.headers[spec.auth.header] = secret
    return session


def fetch_records(
    spec: HttpSource,
    params: dict[str, str | EnvRef],
    progress: HttpProgress,
    aws: AwsResource | None = None,
) -> Iterator[dict[str, Any]]:
    """Every record of the endpoint for `params`, following the declared pagination."""
    paging = spec.pagination
    session = session_for(spec, auth_secret(spec, aws), aws)
    url: str | None = spec.url
    query = {
        name: secret_value(value, f"http.params.{name}", aws) for name, value in params.items()
    }
    hidden = {name for name, value in spec.params.items() if is_secret(value)}
    if paging.size_param:
        query[paging.size_param] = str(paging.size)
    position = paging.start
    if paging.type in ("page", "offset"):
        query[paging.param] = str(position)  # type: ignore[index]
    pause = 1 / spec.requests_per_second if spec.requests_per_second else 0.0
    last = 0.0
    with session:
        while url is not None:
            if progress.pages >= spec.max_pages:
                raise ExtractionError(f"more than http.max_pages={spec.max_pages} pages")
            if pause:
                time.sleep(max(0.0, last + pause - time.monotonic()))
                last = time.monotonic()
            page = _get(session, url, query, spec.timeout, progress, hidden)
            records = _records(page, spec.records_path, progress.pages)
            yield from records
            url, query, position = _next(spec, url, query, position, page, len(records))


def _get(
    session: "requests.Session",
    url: str,
    query: dict[str, str],
    timeout: float,
    progress: HttpProgress,
    hidden: set[str],
) -> Any:
    import requests

    try:
        response = session.get(url, params=query, timeout=timeout)
    except requests.RequestException as error:
        detail = str(error)
        for name in hidden & query.keys():  # urllib3 quotes the request's query in its errors
            detail = detail.replace(query[name], "***").replace(quote_plus(query[name]), "***")
        raise ExtractionError(f"GET {_shown(url, hidden)} failed: {detail}") from error
    progress.pages += 1
    shown = _shown(response.url, hidden)
    if len(progress.requests) < 5:
        progress.requests.append(shown)
    if response.status_code in (401, 403):
        raise ExtractionError(
            f"GET {shown} was refused ({response.status_code}): check http.auth and its secret"
        )
    if response.status_code >= 400:
        raise ExtractionError(
            f"GET {shown} answered {response.status_code} {response.reason}"
            f" after retries: {response.text[:200]!r}"
        )
    try:
        return response.json()
    except ValueError as error:
        kind = response.headers.get("Content-Type", "no content type")
        raise ExtractionError(
            f"GET {shown} (page {progress.pages}) is not JSON ({kind}): {response.text[:120]!r}"
        ) from error


def _records(page: Any, path: str, number: int) -> list[dict[str, Any]]:
    found = _at(page, path)
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise ExtractionError(
            f"page {number}: records_path {path or '(the page)'!r} is not a list of objects"
        )
    return found


def _next(
    spec: HttpSource, url: str, query: dict[str, str], position: int, page: Any, count: int
) -> tuple[str | None, dict[str, str], int]:
    paging = spec.pagination
    if paging.type == "none":
        return None, query, position
    if paging.type in ("page", "offset"):
        if count < paging.size:
            return None, query, position
        position += 1 if paging.type == "page" else count
        return url, {**query, paging.param: str(position)}, position  # type: ignore[dict-item]
    if paging.type == "cursor":
        cursor = _at(page, paging.cursor_path or "")
        if not cursor:
            return None, query, position
        return url, {**query, paging.param: str(cursor)}, position  # type: ignore[dict-item]
    link = _at(page, paging.next_path or "")
    # a next link carries its own query string
    return (str(link) if link else None), {}, position


def _at(document: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _shown(url: str, hidden: Collection[str] = ()) -> str:
    """The URL without user info, and `***` for the parameters read from {env:}/{ssm:}."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, "***" if k in hidden else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, host, parts.path, query if hidden else parts.query, ""))
