"""`GET /v1/cost?namespace=`: what GPUs cost, per namespace and workload, projected from the log.

`costPerHour` is the spend rate now (running replicas x GPUs x their pool's `pricePerGpuHour`);
`gpuHours` and `cost` accumulate over every replica's recorded lifetime (start to stop observations).
A caller sees the workloads of every kind that declares a usage and that it may list in the namespace
(all namespaces: everywhere); one that may list none of them is refused.
"""
from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter

from core.names import Ref, name_problem
from gateway.admission.auth import Principal
from gateway.errors import ApiError, malformed
from gateway.http.context import Gateway
from gateway.http.glue import gateway


@get("/v1/cost", summary="GPU spend rate and accumulated GPU-hours and cost per namespace and workload")
async def get_cost(request: Request[Any, Any, Any],
                   namespace: Annotated[str | None, Parameter(query="namespace")] = None) -> dict[str, Any]:
    gw = gateway(request)
    caller = gw.principal(request.headers.get("authorization"))
    allowed = readable_kinds(gw, caller, namespace)
    now = time.time()
    items = await gw.reads.cost(namespace or None, now, allowed)
    return {"items": items, "at": now}


def readable_kinds(gw: Gateway, caller: Principal, namespace: str | None) -> list[str]:
    """The kind keys of the workloads whose cost `caller` may read in `namespace` (None: everywhere): every
    kind that declares a usage and that it may list there. Refused when it may list none of them."""
    problem = name_problem(namespace) if namespace else None
    if problem:
        raise malformed(f"namespace: {problem}", "namespace")
    allowed: list[str] = []
    refused: ApiError | None = None
    for info in gw.registry.consumers():
        try:
            gw.allow(caller, "list", info, Ref(info.key, namespace, "") if namespace else None)
            allowed.append(info.key)
        except ApiError as e:
            refused = refused or e
    if refused is not None and not allowed:
        raise refused
    return allowed


ROUTES = [get_cost]
