"""Request-size limits every route gets, enforced before a handler (or Litestar) sees the request.

- Headers: at most MAX_HEADERS of them and MAX_HEADER_BYTES in all, else 431. The ASGI check covers any
  server; `BoundedHttpTools` also stops httptools from buffering an endless header block (64 MiB of
  headers used to be read whole, then answered 200): past MAX_HEAD_BYTES the connection is answered 431
  and closed while the headers are still arriving.
- Bodies: past MAX_BODY the request is answered 413 only after the rest of the body (up to DRAIN_LIMIT)
  has been read and discarded. A client that sends its whole body before reading (Python's urllib, many
  others) would otherwise get a connection reset instead of the 413.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from litestar.types import Receive

from gateway.errors import ApiError, malformed

MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 << 10
MAX_HEAD_BYTES = MAX_HEADER_BYTES + (16 << 10)
"""Request line plus header block, as received on the socket."""
MAX_SEQ = (1 << 63) - 1
"""Largest stream sequence a parameter may name: SQLite's INTEGER (a larger one was a 500, or a watch
stream that broke after its 200)."""
DRAIN_LIMIT = 64 << 20
"""Bytes of an oversized body read and discarded so the 413 reaches the client; past it, we close."""
_encode = msgspec.json.Encoder().encode
_log = structlog.get_logger("bosun.gateway")


def headers_too_large() -> ApiError:
    return ApiError(
        431, "HeadersTooLarge", f"request headers exceed {MAX_HEADERS} fields or {MAX_HEADER_BYTES} bytes"
    )


def check_headers(scope: Mapping[str, Any]) -> ApiError | None:
    """The 431 of a request whose headers are over the limits, else None."""
    headers = scope.get("headers", ())
    if len(headers) > MAX_HEADERS:
        return headers_too_large()
    if sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
        return headers_too_large()
    return None


async def drain(receive: Receive, limit: int = DRAIN_LIMIT) -> bool:
    """Read and drop the rest of a request body; False when it ended early (disconnect) or passed `limit`."""
    read = 0
    while read <= limit:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            return False
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


def bounded_httptools() -> type[Any]:
    """uvicorn's httptools protocol with a cap on the bytes of a request head (imported lazily: optional)."""
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    def closing(status: int, error: ApiError) -> bytes:
        body = _encode(error.body)
        return b"".join([STATUS_LINE[status], b"content-type: application/json\r\n",
                         b"content-length: " + str(len(body)).encode() + b"\r\n",
                         b"connection: close\r\n\r\n", body])

    response = closing(431, headers_too_large())

    class BoundedHttpTools(HttpToolsProtocol):
        """Counts the bytes received while a request's head is incomplete."""

        _head_bytes = 0
        _in_head = True
        _heads = 0
        """Request heads completed on this connection."""

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            was_in_head, heads = self._in_head, self._heads
            super().data_received(data)
            # Only a chunk that began inside a head and in which no head completed is wholly head bytes (at
            # most one chunk of a head goes uncounted). One that completes a request whose body follows in
            # the same read is not: a 51 KB PUT arriving in one read used to be counted as 51 KB of headers,
            # and answered 431 after it had been served.
            if was_in_head and heads == self._heads and self._in_head:
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                    # no request exists yet, so no audit record: the log line is the trace it leaves
                    _log.warning("request head over the limit; connection closed", client=str(self.client),
                                 received=self._head_bytes)
                    self.transport.write(response)
                    self.transport.close()

        def on_headers_complete(self) -> None:
            self._in_head, self._head_bytes = False, 0
            self._heads += 1
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_head = True
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            """A request httptools cannot parse gets the API's `{error}` body, not uvicorn's plain text."""
            if not self.transport.is_closing():
                self.transport.write(closing(400, malformed(f"not an HTTP request: {msg}")))
                self.transport.close()

    return BoundedHttpTools
