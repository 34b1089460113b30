"""`GET /v1/log`: the stream, the archive, the retention, and what holds archiving back (`lifecycle.info`)."""
from __future__ import annotations

from typing import Any

from litestar import Request, get

from core import log as corelog
from gateway.errors import unavailable
from gateway.http.glue import gateway
from lifecycle.info import LogInfo, log_info


@get("/v1/log", summary="The log: stream and archive ranges, bytes, retention, the oldest unarchived message and why")
async def log(request: Request[Any, Any, Any]) -> LogInfo:
    gw = gateway(request)
    gw.allow(gw.principal(request.headers.get("authorization")), "list", None, None)
    try:
        return await log_info(gw.log)
    except corelog.TRANSIENT_READ as e:
        raise unavailable(f"the log is unavailable: {e}") from e


ROUTES = [log]
