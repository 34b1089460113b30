"""`GET /v1/cost/series?namespace=&window=&points=`: GPUs in use, spend rate and accumulated cost over time.

The same replica lifetimes as `GET /v1/cost` (`replica_usage`), sampled at `points` evenly spaced instants
over the last `window` seconds (default: since the first replica started), for the dashboard's spend chart.
Readable by whoever may read the cost: list ModelDeployments in the namespace (all namespaces: everywhere).
"""
from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter

from core.names import Ref, name_problem
from gateway.admission.validation import resolve_kind
from gateway.errors import malformed
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
    problem = name_problem(namespace) if namespace else None
    if problem:
        raise malformed(f"namespace: {problem}", "namespace")
    info = resolve_kind("modeldeployment")
    gw.allow(caller, "list", info, Ref(info.key, namespace, "") if namespace else None)
    now = time.time()
    items = await gw.reads.spend(namespace or None, now - window if window else None, now, points)
    return {"items": items, "at": now}


ROUTES = [cost_series]
