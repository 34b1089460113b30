"""Operational routes: liveness, readiness, metrics, the OpenAPI document, projection rebuilds."""
from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import nats.errors
from litestar import MediaType, Request, Response, get, post

from core import metrics as engine_metrics
from core.names import Ref
from gateway import openapi
from gateway.errors import ApiError, unavailable
from gateway.http import resource_metrics
from gateway.http.context import Gateway
from gateway.http.glue import gateway
from gateway.metrics import CONTENT_TYPE, exposition

REBUILD_SUBJECT = "bosun.sys.projections.rebuild"
REBUILD_TIMEOUT = 120.0
READY_TIMEOUT = 2.0


class Health(msgspec.Struct, frozen=True):
    status: str
    reasons: list[str] = []
    lag: int | None = None


@get("/healthz", summary="Liveness")
async def healthz() -> Health:
    return Health("ok")


@get("/readyz", summary="Readiness: NATS connected, stream reachable, read model caught up")
async def readyz(request: Request[Any, Any, Any]) -> Response[Health]:
    reasons, lag = await readiness(gateway(request))
    if reasons:
        return Response(Health("unavailable", reasons, lag), status_code=503)
    return Response(Health("ok", [], lag))


async def readiness(gw: Gateway) -> tuple[list[str], int | None]:
    if not gw.nc.is_connected:
        return ["NATS is not connected"], None
    try:
        last = await asyncio.wait_for(gw.log.last_seq(), READY_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any failure to reach the stream means not ready
        return [f"stream {gw.log.stream} unreachable: {type(e).__name__}"], None
    lag = max(0, last - await gw.reads.checkpoint())
    if lag > gw.max_lag:
        return [f"read model is {lag} messages behind the log"], lag
    return [], lag


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The engine's metrics for anyone (they name no tenant); per-resource gauges and spend only with a
    bearer token, and only of what its principal may `list` (a scraper gets a token like any client)."""
    gw = gateway(request)
    authorization = request.headers.get("authorization")
    per_resource = b""
    if authorization:
        principal = gw.principal(authorization)
        per_resource = await resource_metrics.exposition(gw.reads, lambda kind, ns: gw.authorizer.denial(
            principal, "list", kind, Ref(kind, ns, "")) is None, [k.key for k in gw.registry.consumers()])
    return Response(exposition() + engine_metrics.exposition() + per_resource, media_type=CONTENT_TYPE)


@get("/openapi.json", summary="The OpenAPI document", include_in_schema=False, media_type=MediaType.JSON)
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return openapi.complete(request.app.openapi_schema.to_schema(), gateway(request).registry.kinds())


@post("/v1/projections/rebuild", status_code=200, summary="Rebuild the read model from the log")
async def rebuild(request: Request[Any, Any, Any]) -> Response[Any]:
    gw = gateway(request)
    gw.allow(gw.principal(request.headers.get("authorization")), "rebuild", None, None)
    try:
        reply = await gw.nc.request(REBUILD_SUBJECT, b"{}", timeout=REBUILD_TIMEOUT)
    except nats.errors.NoRespondersError as e:
        raise unavailable("no projector is running") from e
    except nats.errors.TimeoutError as e:
        raise unavailable("the projector did not answer in time") from e
    try:
        body = msgspec.json.decode(reply.data) if reply.data else {}
    except msgspec.DecodeError as e:
        raise ApiError(502, "BadReply", "the projector's reply is not JSON") from e
    if isinstance(body, dict) and isinstance(body.get("error"), str):  # the projector's plain refusal
        raise ApiError(409, "RebuildFailed", body["error"])
    return Response(body, status_code=200)


ROUTES = [healthz, readyz, metrics, openapi_json, rebuild]
