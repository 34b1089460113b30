"""`GET /v1/cost?namespace=`: what GPUs cost, per namespace and deployment, projected from the log.

`costPerHour` is the spend rate now (running replicas x GPUs x their pool's `pricePerGpuHour`);
`gpuHours` and `cost` accumulate over every replica's recorded lifetime (start to stop observations).
Readable by whoever may list ModelDeployments in the namespace (all namespaces: everywhere).
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


@get("/v1/cost", summary="GPU spend rate and accumulated GPU-hours and cost per namespace and deployment")
async def get_cost(request: Request[Any, Any, Any],
                   namespace: Annotated[str | None, Parameter(query="namespace")] = None) -> dict[str, Any]:
    gw = gateway(request)
    caller = gw.principal(request.headers.get("authorization"))
    problem = name_problem(namespace) if namespace else None
    if problem:
        raise malformed(f"namespace: {problem}")
    info = resolve_kind("modeldeployment")
    gw.allow(caller, "list", info, Ref(info.key, namespace, "") if namespace else None)
    now = time.time()
    items = await gw.reads.cost(namespace or None, now)
    return {"items": items, "at": now}


ROUTES = [get_cost]
