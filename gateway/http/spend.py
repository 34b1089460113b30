"""`GET /v1/cost/series?namespace=&window=&points=`: GPUs in use, spend rate and accumulated cost over time.

The same replica lifetimes as `GET /v1/cost` (`replica_usage`), sampled at `points` evenly spaced instants
over the last `window` seconds (default: since the first replica started), for the dashboard's spend chart.
Readable as the cost is (`costs.readable_kinds`): the workloads of every kind the caller may list there.
"""
from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter

from gateway.http.costs import readable_kinds
from gateway.http.glue import gateway
from projections.spend import MAX_POINTS

MAX_WINDOW = 366 * 86400.0


@get("/v1/cost/series", summary="GPUs in use, spend rate and accumulated cost over time")
async def cost_series(request: Request[Any, Any, Any],
                      namespace: Annotated[str | None, Parameter(query="namespace")] = None,
                      window: Annotated[float | None, Parameter(query="window", gt=0, le=MAX_WINDOW)] = None,
                      points: Annotated[int, Parameter(query="points", ge=2, le=MAX_POINTS)] = 60
                      ) -> dict[str, Any]:
    gw = gateway(request)
    caller = gw.principal(request.headers.get("authorization"))
    allowed = readable_kinds(gw, caller, namespace)
    now = time.time()
    items = await gw.reads.spend(namespace or None, now - window if window else None, now, points, allowed)
    return {"items": items, "at": now}


ROUTES = [cost_series]
