"""Litestar glue shared by the route modules: the Gateway from app state, responses, error handlers.

Every error, including Litestar's own 404/405/413/400 and unexpected 500s, leaves as the one
`{"error": {...}}` shape.
"""
from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from gateway import limits
from gateway.admission.admit import Outcome
from gateway.errors import ApiError, ErrorDetail, too_large
from gateway.http import refusals
from gateway.http.context import Gateway

_log = structlog.get_logger("bosun.gateway")
_CODES = {400: "Malformed", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
          409: "Conflict", 413: "TooLarge", 415: "UnsupportedMediaType", 422: "Invalid", 503: "Unavailable"}


def gateway(request: Request[Any, Any, Any]) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def respond(outcome: Outcome) -> Response[Any]:
    return Response(outcome.body, status_code=outcome.status)


async def body_of(request: Request[Any, Any, Any]) -> bytes:
    """The raw body; Litestar's size limit surfaces as our 413."""
    try:
        return await request.body()
    except HTTPException as e:
        if e.status_code == 413:
            await limits.drain(request.receive)  # so a client that sends everything first reads the 413
            raise too_large(request.app.request_max_body_size or 0) from e
        raise


def on_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    _audit(request, exc)
    return Response(exc.body, status_code=exc.status)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own refusals in our shape, with plain field names (`limit`, not `ParamType.QUERY.limit`)."""
    status = exc.status_code
    details: list[ErrorDetail] = []
    message = str(exc.detail or "")
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        details = [ErrorDetail(_field(e), str(e.get("message", ""))) for e in exc.extra if isinstance(e, dict)]
        message = "; ".join(f"{d.field}: {d.message}" for d in details) or "invalid request parameters"
    code = _CODES.get(status, "Error" if status < 500 else "Internal")
    error = ApiError(status, code, message or code, details)
    _audit(request, error)
    return Response(error.body, status_code=status, headers=dict(exc.headers or {}))


def on_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.exception("unhandled error", path=request.url.path, error=repr(exc))
    error = ApiError(500, "Internal", "internal server error")
    _audit(request, error)
    return Response(error.body, status_code=500)


def _audit(request: Request[Any, Any, Any], error: ApiError) -> None:
    gw = getattr(request.app.state, "gateway", None)
    if gw is not None:
        refusals.record(gw, request.method, request.url.path, request.scope.get("path_params") or {},
                        request.headers.get("authorization"), error)


def _field(extra: dict[str, Any]) -> str:
    key = extra.get("key")
    return str(key) if key else "$"


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: on_api_error,
    HTTPException: on_http_error,
    Exception: on_internal_error,
}
