"""`GET /v1/watch`: Server-Sent Events of object changes, with the same filters as lists.

Initial state first (every matching object as ADDED, all with the read model's checkpoint as id),
unless the client resumes with `resourceVersion` or `Last-Event-ID`. Then changes from the read model's
change log, woken by the projector's `bosun.sys.projections.changed` notifications, with a slow
fallback poll in case a notification is lost. Comment lines keep idle connections alive.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response import Stream

from core.kinds import KindInfo
from core.names import Ref
from gateway.admission.validation import resolve_kind
from gateway.http.context import Gateway
from gateway.http.glue import gateway

FALLBACK_POLL = 5.0
PAGE = 500
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Filters:
    kind: KindInfo | None
    namespace: str | None
    label_selector: str | None
    phase: str | None


def frame(event: str, seq: int, obj: Any) -> bytes:
    return b"event: " + event.encode() + b"\nid: " + str(seq).encode() + b"\ndata: " + _encoder.encode(obj) + b"\n\n"


async def initial(gw: Gateway, f: Filters, seq: int) -> AsyncIterator[bytes]:
    for info in [f.kind] if f.kind else gw.registry.kinds():
        token: str | None = None
        while True:
            items, token = await gw.reads.list(info.key, f.namespace, f.label_selector, f.phase, PAGE, token)
            for obj in items:
                yield frame("ADDED", seq, obj)
            if not token:
                break


async def stream(gw: Gateway, f: Filters, since: int | None) -> AsyncIterator[bytes]:
    from projections.readmodel import ChangesExpired

    announced = gw.changes.seq
    cursor = since
    while not gw.changes.closed:
        if cursor is None:  # (re)start from a consistent listing
            cursor = await gw.reads.checkpoint()
            async for chunk in initial(gw, f, cursor):
                yield chunk
            yield b": watching\n\n"
        through = await gw.reads.checkpoint()  # before reading changes: see ReadModel.changed_since
        try:
            changes = await gw.reads.changed_since(cursor, f.kind.key if f.kind else None, f.namespace,
                                                   f.label_selector, f.phase, PAGE)
        except ChangesExpired:
            cursor = None
            continue
        for change in changes:
            yield frame(change.type, change.seq, change.object)
        if len(changes) >= PAGE:
            cursor = changes[-1].seq
            continue
        cursor = max(cursor, through)
        before = announced
        announced = await gw.changes.wait(announced, FALLBACK_POLL)
        if announced == before:
            yield b": keepalive\n\n"


@get("/v1/watch", summary="Server-Sent Events of changes (filters as on list)")
async def watch(request: Request[Any, Any, Any],
                kind: Annotated[str | None, Parameter(query="kind")] = None,
                namespace: Annotated[str | None, Parameter(query="namespace")] = None,
                label_selector: Annotated[str | None, Parameter(query="labelSelector")] = None,
                phase: Annotated[str | None, Parameter(query="phase")] = None,
                resource_version: Annotated[int | None, Parameter(query="resourceVersion", ge=0)] = None,
                ) -> Response[Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info = resolve_kind(kind) if kind else None
    gw.allow(principal, "watch", info, Ref(info.key if info else "*", namespace, "") if namespace else None)
    last_id = request.headers.get("last-event-id")
    since = resource_version if resource_version is not None else (
        int(last_id) if last_id and last_id.isdigit() else None)
    filters = Filters(info, namespace, label_selector, phase)
    return Stream(stream(gw, filters, since), media_type="text/event-stream",
                  headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


ROUTES = [watch]
