"""A small REST API on a local port, in a thread: the endpoints the HTTP extraction meets.

Orders carry an ISO timestamp `ts`; `since`/`until` (ISO, with offset) select a window.
Every request is recorded (path, query, headers) for the tests to assert on.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "s3cret-token"
ORDERS = [
    {"order_id": n, "amount": round(10.5 * n, 2), "ts": ts}
    for n, ts in enumerate(
        [
            "2024-03-30T21:30:00+00:00",  # 2024-03-30 22:30 in Berlin
            "2024-03-30T23:30:00+00:00",  # 2024-03-31 01:30 in Berlin: the next day there
            "2024-03-31T05:00:00+00:00",
            "2024-03-31T12:00:00+00:00",
            "2024-03-31T21:59:00+00:00",  # 23:59 in Berlin (summer time since 02:00)
            "2024-03-31T22:00:00+00:00",  # 2024-04-01 00:00 in Berlin
        ],
        start=1,
    )
]


class Api:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.flaky_calls = 0
        self.unstable_calls = 0
        self.url = ""


def _window(query: dict[str, list[str]]) -> list[dict[str, Any]]:
    since = datetime.fromisoformat(query["since"][0]) if "since" in query else None
    until = datetime.fromisoformat(query["until"][0]) if "until" in query else None
    return [
        o
        for o in ORDERS
        if (since is None or datetime.fromisoformat(o["ts"]) >= since)
        and (until is None or datetime.fromisoformat(o["ts"]) < until)
    ]


def _handler(api: Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def send(
            self, status: int, body: Any, content_type: str = "application/json", **headers: str
        ) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            api.requests.append(
                {
                    "path": parts.path,
                    "query": query,
                    "headers": dict(self.headers),
                    "at": time.monotonic(),  # when it arrived, for rate limit and backoff
                }
            )
            records = _window(query)
            size = int(query.get("per_page", ["2"])[0])
            if parts.path == "/pages":  # page numbers from 1, data under data.orders
                page = int(query["page"][0])
                self.send(200, {"data": {"orders": records[(page - 1) * size : page * size]}})
            elif parts.path == "/offset":
                offset = int(query["offset"][0])
                self.send(200, records[offset : offset + size])
            elif parts.path == "/cursor":  # the cursor is the index of the next record
                at = int(query.get("cursor", ["0"])[0])
                following = at + size if at + size < len(records) else None
                self.send(200, {"items": records[at : at + size], "meta": {"next": following}})
            elif parts.path == "/links":
                at = int(query.get("at", ["0"])[0])
                link = f"{api.url}/links?at={at + size}" if at + size < len(ORDERS) else None
                self.send(200, {"results": ORDERS[at : at + size], "links": {"next": link}})
            elif parts.path == "/secure":
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send(401, {"error": "unauthorized"})
                else:
                    self.send(200, records)
            elif parts.path == "/flaky":  # too many requests once, then the data
                api.flaky_calls += 1
                if api.flaky_calls == 1:
                    self.send(429, {"error": "slow down"}, Retry_After="0")
                else:
                    self.send(200, records)
            elif parts.path == "/unstable":  # unavailable twice, then the data
                api.unstable_calls += 1
                if api.unstable_calls <= 2:
                    self.send(503, {"error": "try later"})
                else:
                    self.send(200, records)
            elif parts.path == "/html":
                self.send(200, "<html><body>Maintenance</body></html>", "text/html")
            elif parts.path == "/malformed":  # the second page is cut short
                page = int(query["page"][0])
                if page == 1:
                    self.send(200, ORDERS[:2])
                else:
                    self.send(200, '[{"order_id": 3, "amo', "application/json")
            else:
                self.send(404, {"error": "no such endpoint"})

    return Handler


@contextmanager
def serving() -> Iterator[Api]:
    api = Api()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
