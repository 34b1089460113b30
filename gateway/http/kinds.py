"""`GET /v1/kinds`: the kinds this gateway serves, so a client needs no kind code of its own.

Names, plural, short names, scope and the JSON Schemas of spec and status (`gateway.schemas`): what
`bosun` resolves `md/chat` with, what `api-resources` lists and `explain` reads. Any authenticated
principal may read it (it holds no resource data; RBAC still decides what it may do with each kind).
"""
from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Request, get

from core.kinds import KindInfo
from gateway.http.glue import gateway
from gateway.schemas import kind_schema


class KindEntry(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    """E.g. `Quota`."""
    singular: str
    plural: str
    """The path segment of its collection (`/v1/namespaces/{ns}/quotas`)."""
    short_names: list[str]
    namespaced: bool
    controller: str | None
    """The ctl slice its controller writes; None: nothing reconciles it (Ready once written)."""
    schema: dict[str, Any]
    """`{spec, status}` JSON Schemas, each self-contained."""


class KindList(msgspec.Struct, frozen=True):
    items: list[KindEntry]


@functools.lru_cache(maxsize=4)
def listing(kinds: tuple[KindInfo, ...]) -> KindList:
    return KindList([KindEntry(name=k.name, singular=k.key, plural=k.plural, short_names=list(k.short_names),
                               namespaced=not k.cluster_scoped, controller=k.controller, schema=kind_schema(k))
                     for k in sorted(kinds, key=lambda k: k.name)])


@get("/v1/kinds", summary="The kinds served: names, scope, spec and status schemas")
async def kinds_route(request: Request[Any, Any, Any]) -> KindList:
    gw = gateway(request)
    gw.principal(request.headers.get("authorization"))  # authenticated; no RBAC: it names no resource
    return listing(tuple(gw.registry.kinds()))


ROUTES = [kinds_route]
