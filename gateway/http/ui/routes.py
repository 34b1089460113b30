"""`/ui/`: the dashboard's static files, and the one thing the page can't learn from the public API.

The page is plain HTML, CSS and ES modules under `static/`, served as they are (no build step, nothing
fetched from elsewhere), with a Content-Security-Policy that allows only this origin: no inline script,
no third-party code. Every datum it shows comes from the public `/v1` API with the user's own token, so
it sees exactly what that Principal may see. The exception is `GET /ui/kinds.json`: the registered kinds
(schema, not data, like the OpenAPI document), which the page needs to list every resource for a
Principal allowed only some kinds; it doubles as the login check, so it requires a valid token.
`GET /ui/config.json` says where trace ids link to (`BOSUN_TRACE_URL`, read once when the gateway starts).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from gateway.http.glue import gateway

STATIC = Path(__file__).parent / "static"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class KindEntry(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    plural: str
    cluster_scoped: bool


class KindList(msgspec.Struct, frozen=True):
    items: list[KindEntry]


def _secure(response: Response[Any]) -> Response[Any]:
    """after_request hook: the page's security headers on every static file."""
    for key, value in HEADERS.items():
        response.headers[key] = value
    return response


@get("/ui/kinds.json", summary="The registered kinds (for the dashboard); needs a valid token",
     include_in_schema=False)
async def ui_kinds(request: Request[Any, Any, Any]) -> KindList:
    gateway(request).principal(request.headers.get("authorization"))
    return KindList([KindEntry(k.name, k.plural, k.cluster_scoped)
                     for k in sorted(gateway(request).registry.kinds(), key=lambda k: k.name)])


class UiConfig(msgspec.Struct, frozen=True, rename="camel"):
    trace_url: str
    """Link template of the trace UI (`{traceId}` is replaced); empty when none is configured."""


@get("/ui/config.json", summary="The dashboard's settings (trace links); needs a valid token", include_in_schema=False)
async def ui_config(request: Request[Any, Any, Any]) -> UiConfig:
    gw = gateway(request)
    gw.principal(request.headers.get("authorization"))
    return UiConfig(gw.trace_url)


STATIC_ROUTER = create_static_files_router(
    path="/ui", directories=[STATIC], html_mode=True, name="ui", include_in_schema=False,
    cache_control=CacheControlHeader(no_cache=True), after_request=_secure)

ROUTES = [ui_kinds, ui_config, STATIC_ROUTER]
