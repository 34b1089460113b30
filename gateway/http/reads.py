"""Reads: one object (now, as of a sequence, or after read-your-writes), lists and history.

Answers come from the read model, except time travel which folds the log itself.
"""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter

from core.kinds import KindInfo
from core.names import CLUSTER_NS, Ref
from gateway.admission.auth import Principal
from gateway.admission.validation import ref_of, resolve_kind
from gateway.errors import ApiError, malformed, not_found
from gateway.http import envtravel
from gateway.http.glue import gateway
from gateway.http.timetravel import object_at
from gateway.limits import MAX_SEQ
from projections import archived, selectors

RESOURCE = "/v1/namespaces/{ns:str}/{kind:str}/{name:str}"
MIN_VERSION_WAIT = 10.0
Limit = Annotated[int, Parameter(query="limit", ge=1, le=1000)]
Continue = Annotated[str | None, Parameter(query="continue")]
Selector = Annotated[str | None, Parameter(query="labelSelector")]
Phase = Annotated[str | None, Parameter(query="phase")]
Req = Request[Any, Any, Any]
At = Annotated[int | None, Parameter(query="at", ge=1, le=MAX_SEQ)]
AtTime = Annotated[str | None, Parameter(query="atTime")]


@get(RESOURCE, summary="One object {kind, metadata, spec, status}")
async def get_resource(request: Req, ns: str, kind: str, name: str,
                       at: Annotated[int | None, Parameter(query="at", ge=1, le=MAX_SEQ)] = None,
                       min_version: Annotated[int | None,
                                              Parameter(query="minVersion", ge=0, le=MAX_SEQ)] = None,
                       at_time: AtTime = None) -> dict[str, Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info, ref = ref_of(kind, ns, name, gw.registry)
    gw.allow(principal, "get", info, ref)
    if at_time is not None:
        found = await envtravel.objects_at(gw.log, info, at, ref.namespace, _instant(at_time), ref.name,
                                           gw.registry)
        obj = found[0] if found else None
    elif at is not None:
        obj = await object_at(gw.log, ref, at, gw.registry)
    else:
        if min_version and not await gw.reads.wait_for(min_version, MIN_VERSION_WAIT):
            raise ApiError(503, "Lagging", f"the read model has not reached sequence {min_version} yet")
        obj = await gw.reads.get(info.key, ref.namespace, ref.name)
    if obj is None:
        raise not_found(f"{info.name} {ns}/{name} not found")
    return obj


@get("/v1/namespaces/{ns:str}/{kind:str}", summary="List objects of a kind in one namespace")
async def list_namespaced(request: Req, ns: str, kind: str, label_selector: Selector = None, phase: Phase = None,
                          limit: Limit = 500, continue_token: Continue = None, at: At = None,
                          at_time: AtTime = None) -> dict[str, Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info, _ = ref_of(kind, ns, "x", gw.registry)
    if at is not None or at_time is not None:
        return await _list_at(request, principal, info, ns, label_selector, phase, at, at_time)
    return await _list(request, principal, info, ns, label_selector, phase, limit, continue_token)


@get("/v1/{kind:str}", summary="List objects of a kind in every namespace")
async def list_all(request: Req, kind: str, label_selector: Selector = None, phase: Phase = None,
                   limit: Limit = 500, continue_token: Continue = None, at: At = None,
                   at_time: AtTime = None) -> dict[str, Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info = resolve_kind(kind, gw.registry)
    if at is not None or at_time is not None:
        return await _list_at(request, principal, info, None, label_selector, phase, at, at_time)
    return await _list(request, principal, info, None, label_selector, phase, limit, continue_token)


async def _list(request: Req, principal: Principal, info: KindInfo, ns: str | None, selector: str | None,
                phase: str | None, limit: int, token: str | None) -> dict[str, Any]:
    gw = gateway(request)
    gw.allow(principal, "list", info, scope_of(info, ns))
    try:
        items, more = await gw.reads.list(info.key, ns, selector, phase, limit, token)
    except ValueError as e:  # a malformed selector or continue token
        raise malformed(str(e)) from e
    return {"items": items, "continue": more}


async def _list_at(request: Req, principal: Principal, info: KindInfo, ns: str | None, selector: str | None,
                   phase: str | None, at: int | None, at_time: str | None) -> dict[str, Any]:
    """Environment-wide time travel: every object of the kind as of `at` / `atTime` (one page, folded)."""
    gw = gateway(request)
    gw.allow(principal, "list", info, scope_of(info, ns))
    try:
        reqs = selectors.parse(selector)
    except ValueError as e:
        raise malformed(str(e)) from e
    items = await envtravel.objects_at(gw.log, info, at, ns, _instant(at_time) if at_time else None,
                                     registry=gw.registry)
    items = [o for o in items if (phase is None or o["status"].get("phase") == phase)
             and selectors.matches(reqs, o["metadata"].get("labels") or {})]
    return {"items": items, "continue": None}


def scope_of(info: KindInfo, ns: str | None) -> Ref | None:
    """What a collection read covers, for authorization: one namespace, or (None) every namespace."""
    return None if ns is None else Ref(info.key, CLUSTER_NS if info.cluster_scoped else ns, "")


def _instant(text: str) -> float:
    try:
        return envtravel.parse_time(text)
    except ValueError as e:
        raise malformed(f"atTime: {e}") from e


@get(RESOURCE + "/history", summary="The resource's timeline: newest page first, or forward from `since`")
async def history(request: Req, ns: str, kind: str, name: str, limit: Limit = 100,
                  continue_token: Continue = None,
                  since: Annotated[int | None, Parameter(query="since", ge=0, le=MAX_SEQ)] = None,
                  types: Annotated[list[str] | None, Parameter(query="type")] = None) -> dict[str, Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info, ref = ref_of(kind, ns, name, gw.registry)
    gw.allow(principal, "history", info, ref)
    wanted = [t for raw in types or () for t in raw.split(",") if t] or None
    try:
        items, more = await archived.history(gw.reads, gw.log, info.key, ref.namespace, ref.name, limit,
                                             continue_token, since, wanted, tail=since is None)
    except ValueError as e:
        raise malformed(str(e)) from e
    if not items and not continue_token and not await _ever_existed(request, info, ref):
        raise not_found(f"{info.name} {ns}/{name} has no history: it never existed")
    return {"items": items, "continue": more}


async def _ever_existed(request: Req, info: KindInfo, ref: Ref) -> bool:
    """An empty page of a resource that exists, or did (its timeline outlives it), is just empty."""
    reads = gateway(request).reads
    if await reads.get(info.key, ref.namespace, ref.name) is not None:
        return True
    items, _ = await reads.history(info.key, ref.namespace, ref.name, 1, None, None, None, tail=True)
    return bool(items)


ROUTES = [get_resource, list_namespaced, list_all, history]
