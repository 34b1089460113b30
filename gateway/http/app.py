"""The Litestar application: routes, error handlers, metrics middleware, OpenAPI (behind the write fast
path of `gateway/http/asgi.py`, which `create_app` puts in front).

Litestar speaks msgspec natively and derives the OpenAPI document from the same Structs the handlers
return, so the schema can't drift from the wire. Handlers are thin: admission and the read model do
the work.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http import (
    access,
    controllers,
    costs,
    diff,
    kinds,
    logs,
    nodes,
    ops,
    plans,
    reads,
    replays,
    replicas,
    retry,
    spend,
    watch,
    writes,
)
from gateway.http import audit as audits
from gateway.http.asgi import App
from gateway.http.context import Gateway
from gateway.http.glue import EXCEPTION_HANDLERS
from gateway.http.ui import routes as ui
from gateway.manifests import MAX_BODY
from gateway.metrics import REQUESTS
from gateway.telemetry import finish_request, request_span


def create_app(gw: Gateway) -> App:
    """The ASGI app: resource writes on the fast path (`gateway/http/asgi.py`), everything else in Litestar."""
    return App(gw, create_litestar(gw))


def create_litestar(gw: Gateway) -> Litestar:
    return Litestar(
        route_handlers=[*writes.ROUTES, *reads.ROUTES, *diff.ROUTES, *watch.ROUTES, *ops.ROUTES,
                        *replays.ROUTES, *audits.ROUTES, *plans.ROUTES, *costs.ROUTES, *controllers.ROUTES,
                        *retry.ROUTES, *kinds.ROUTES, *replicas.ROUTES, *access.ROUTES, *spend.ROUTES,
                        *logs.ROUTES, *nodes.ROUTES, *ui.ROUTES],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[timed(gw)],
        state=State({"gateway": gw}),
        request_max_body_size=MAX_BODY,
        openapi_config=OpenAPIConfig(title="Bosun", version="0.1.0", path="/schema"),
        logging_config=None,
    )


def timed(gw: Gateway) -> Callable[[ASGIApp], ASGIApp]:
    """Request latency by method, route template and status (templates, not paths: bounded labels), in the
    request's span (which continues the caller's trace only when `gw` trusts the caller)."""
    return functools.partial(_timed, gw)


def _timed(gw: Gateway, app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        trusted = gw.admission.trusts(_authorization(scope))
        with request_span(scope, registry=gw.registry, trusted=trusted) as sp:
            try:
                await app(scope, receive, sending)
            finally:
                route = _route(scope)
                _latency(scope.get("method", ""), route, status).observe(time.perf_counter() - started)
                finish_request(sp, scope.get("method", ""), route, status)

    return middleware


def _authorization(scope: Any) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None


@functools.lru_cache(maxsize=1024)
def _latency(method: str, route: str, status: int) -> Any:
    return REQUESTS.labels(method, route, str(status))


def _route(scope: Any) -> str:
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return sorted(paths)[0] if paths else "unmatched"
