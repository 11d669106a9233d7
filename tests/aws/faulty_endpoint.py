"""A fault-injecting proxy in front of the moto server (for tests only).

moto has no fault injection for S3, so requests go through this small HTTP proxy, which
answers some of them itself: with S3's 503 SlowDown (as an overloaded S3 does), a 500
InternalError, a 403 AccessDenied, or by closing the connection without an answer.
"""

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


def _error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


# fault -> (HTTP status, body); "close" drops the connection instead of answering
FAULTS = {
    "503": (503, SLOW_DOWN),
    "500": (500, _error("InternalError", "We encountered an internal error.")),
    "403": (403, _error("AccessDenied", "Access Denied")),
}


class FaultyEndpoint:
    """Forwards to `target`; `should_fail(method, path, number)` picks the requests to fail.

    It answers True or "503" (SlowDown), "500", "403", or "close"; False/None forwards.
    """

    def __init__(
        self, target: str, should_fail: Callable[[str, str, int], bool | str | None]
    ) -> None:
        self.target = urlsplit(target)
        self.should_fail = should_fail
        self.requests = 0
        self.failed: list[tuple[str, str]] = []
        self.targets: list[str] = []  # X-Amz-Target of every request: `AWSGlue.UpdateTable`, ...
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultyEndpoint":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with endpoint._lock:
                    endpoint.targets.append(self.headers.get("X-Amz-Target", ""))
                    endpoint.requests += 1
                    number = endpoint.requests
                    fail = endpoint.should_fail(self.command, self.path, number)
                    if fail:
                        endpoint.failed.append((self.command, self.path))
                if fail == "close":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no answer at all
                    return
                if fail:
                    status, answer = FAULTS["503" if fail is True else fail]
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                upstream = http.client.HTTPConnection(
                    endpoint.target.hostname, endpoint.target.port, timeout=60
                )
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "expect"
                }
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                # a HEAD answer has no body but tells the object's size
                size = (
                    response.getheader("Content-Length")
                    if self.command == "HEAD"
                    else str(len(data))
                )
                self.send_header("Content-Length", size or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        return Handler
