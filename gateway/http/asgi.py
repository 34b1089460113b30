"""The ASGI app the gateway serves: resource writes answered directly, every other request by Litestar.

`PUT` and `DELETE /v1/namespaces/{ns}/{kind}/{name}` are the control plane's hot path (every apply of
every client). There Litestar's per-request machinery (middleware stack, routing trie, handler
signature, Response rendering) was a large share of a write's CPU, so this module serves those two
routes itself, with the same contract as the Litestar handlers in `gateway/http/writes.py`: the
raw body handed to admission (never read for a request without credentials), 413 past MAX_BODY, the
same `{"error": ...}` shapes (500 included), the request span and the latency metric under the same
route label. Litestar keeps the routes, for the OpenAPI document and for any other form of the path
(e.g. a trailing slash), which fall through to it unchanged.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import msgspec
import structlog
from litestar import Litestar
from litestar.types import Receive, Scope, Send

from gateway import limits
from gateway.admission.admit import Action, Intent
from gateway.errors import ApiError, too_large
from gateway.http import refusals
from gateway.http.context import Gateway
from gateway.http.writes import RESOURCE
from gateway.manifests import MAX_BODY
from gateway.metrics import REQUESTS
from gateway.telemetry import finish_request, request_span

_log = structlog.get_logger("bosun.gateway")
_encode = msgspec.json.Encoder().encode
_WANTED = frozenset({b"authorization", b"content-type", b"content-length", b"if-match", b"traceparent",
                     b"idempotency-key"})
_ACTIONS: dict[str, Action] = {"PUT": "apply", "DELETE": "delete"}
_INTERNAL = _encode(ApiError(500, "Internal", "internal server error").body)


class Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


class App:
    """ASGI callable: the write fast path in front of the Litestar app (`litestar`)."""

    def __init__(self, gw: Gateway, litestar: Litestar) -> None:
        self.gw = gw
        self.litestar = litestar

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            too_many = limits.check_headers(scope)
            if too_many is not None:  # every route, the dashboard's static files included
                await self._refuse(scope, send, too_many)
                return
            action = _ACTIONS.get(scope["method"])
            if action is not None:
                parts = scope["path"].split("/")
                if len(parts) == 6 and parts[1] == "v1" and parts[2] == "namespaces" and all(parts[3:]):
                    await self._write(scope, receive, send, action, parts[3], parts[4], parts[5])
                    return
        await self.litestar(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, error: ApiError) -> None:
        refusals.record(self.gw, scope["method"], scope["path"], {}, None, error)
        body = _encode(error.body)
        await send({"type": "http.response.start", "status": error.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def _write(self, scope: Scope, receive: Receive, send: Send, action: Action, ns: str, kind: str,
                     name: str) -> None:
        started = time.perf_counter()
        h = headers_of(scope)
        status = 500
        trusted = self.gw.admission.trusts(h.get("authorization"))
        with request_span(scope, h.get("traceparent"), self.gw.registry, trusted) as sp:
            try:
                try:
                    status, body = await self._admit(receive, action, ns, kind, name, h)
                except Disconnected:
                    return  # recorded as a 500, as Litestar records a request whose client went away
                except Exception as e:  # noqa: BLE001 - a bug answers 500 in the API's shape, as Litestar's
                    _log.exception("unhandled error", path=scope["path"], error=repr(e))
                    status, body = 500, _INTERNAL
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            finally:
                _requests(scope["method"], status).observe(time.perf_counter() - started)
                finish_request(sp, scope["method"], RESOURCE, status)

    async def _admit(self, receive: Receive, action: Action, ns: str, kind: str, name: str,
                     h: dict[str, str]) -> tuple[int, bytes]:
        intent = Intent(action=action, kind=kind, namespace=ns, name=name, content_type=h.get("content-type"),
                        authorization=h.get("authorization"), if_match=h.get("if-match"),
                        traceparent=h.get("traceparent"), idempotency_key=h.get("idempotency-key"))
        if action == "apply" and h.get("authorization"):  # don't read (or size-check) bodies of strangers
            try:
                intent = dataclasses.replace(intent, body=await read_body(receive, h.get("content-length")))
            except ApiError as e:
                return e.status, _encode(self.gw.admission.refuse(intent, e).body)
        outcome = await self.gw.admission.handle(intent)
        return outcome.status, _encode(outcome.body)


def headers_of(scope: Scope) -> dict[str, str]:
    """The request headers a write uses (ASGI names are lower-case; the first of repeated ones wins)."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key in _WANTED:
            found.setdefault(key.decode("latin-1"), value.decode("latin-1"))
    return found


async def read_body(receive: Receive, content_length: str | None) -> bytes:
    """The whole body; 413 once it (or its announced length) passes MAX_BODY, as Litestar's limit, after
    reading and dropping the rest (gateway/limits.py: so the client gets to read the 413)."""
    if content_length is not None:
        try:
            announced = int(content_length)
        except ValueError:
            raise ApiError(400, "Malformed", f"Invalid content-length: {content_length[:40]!r}") from None
        if announced > MAX_BODY:
            await limits.drain(receive)
            raise too_large(MAX_BODY)
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > MAX_BODY:
                if message.get("more_body", False):
                    await limits.drain(receive)
                raise too_large(MAX_BODY)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@functools.cache
def _requests(method: str, status: int) -> Any:
    """The latency histogram child of one (method, status) on the write route (`labels()` is not free)."""
    return REQUESTS.labels(method, RESOURCE, str(status))
