"""`GET /v1/watch`: Server-Sent Events of object changes, with the same filters as lists.

Initial state first (every matching object as ADDED, all with the read model's checkpoint as id),
unless the client resumes with `resourceVersion` or `Last-Event-ID`. Then changes from the read model's
change log, woken by the projector's `bosun.sys.projections.changed` notifications, with a slow
fallback poll in case a notification is lost. Comment lines keep idle connections alive.

`ref=kind/namespace/name` (repeatable) narrows the stream to those objects (what `bosun wait` and
`apply --wait` follow, in one stream whatever the kinds and namespaces); `bookmarks=true` adds one
`BOOKMARK` event (id: the listing's sequence, data `{}`) once the initial state is sent, so a client can
tell "not there" from "not sent yet".

Every input is checked before the stream starts (a bad selector is a 400, not a stream that dies), and
the watcher's authorization is checked again before every batch: when a policy change (a deleted
RoleBinding, a revoked Principal) takes the right away, the stream ends with an `ERROR` event.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response import Stream

from core.kinds import KindInfo
from core.names import CLUSTER_NS, Ref
from gateway.admission.validation import ref_of, resolve_kind
from gateway.errors import ApiError, ErrorDetail
from gateway.http import refusals
from gateway.http.context import Gateway
from gateway.http.glue import gateway
from gateway.limits import MAX_SEQ
from projections import selectors

FALLBACK_POLL = 5.0
_log = structlog.get_logger("bosun.gateway")
PAGE = 500
_encoder = msgspec.json.Encoder()


MAX_REFS = 500


@dataclass(frozen=True)
class Filters:
    kind: KindInfo | None
    namespace: str | None
    label_selector: str | None
    phase: str | None
    refs: frozenset[Ref] = frozenset()
    """Only these objects (empty: every object the other filters match)."""
    bookmarks: bool = False

    def query(self) -> tuple[str | None, str | None]:
        """(kind, namespace) for the change feed: narrowed by the refs when they all share one."""
        kinds = {r.kind for r in self.refs}
        namespaces = {r.namespace for r in self.refs}
        kind = self.kind.key if self.kind else (next(iter(kinds)) if len(kinds) == 1 else None)
        namespace = self.namespace or (next(iter(namespaces)) if len(namespaces) == 1 else None)
        return kind, namespace

    def wants(self, obj: Any) -> bool:
        if not self.refs:
            return True
        meta = obj.get("metadata") or {}
        return Ref(str(obj.get("kind", "")).lower(), meta.get("namespace") or CLUSTER_NS,
                   str(meta.get("name", ""))) in self.refs


Recheck = Callable[[], None]
"""Raises ApiError once the watcher may no longer watch."""


def frame(event: str, seq: int, obj: Any) -> bytes:
    return b"event: " + event.encode() + b"\nid: " + str(seq).encode() + b"\ndata: " + _encoder.encode(obj) + b"\n\n"


async def initial(gw: Gateway, f: Filters, seq: int) -> AsyncIterator[bytes]:
    if f.refs:
        for ref in sorted(f.refs):
            obj = await gw.reads.get(ref.kind, ref.namespace, ref.name)
            if obj is not None and f.wants(obj):
                yield frame("ADDED", seq, obj)
        return
    for info in [f.kind] if f.kind else gw.registry.kinds():
        token: str | None = None
        while True:
            items, token = await gw.reads.list(info.key, f.namespace, f.label_selector, f.phase, PAGE, token)
            for obj in items:
                yield frame("ADDED", seq, obj)
            if not token:
                break


async def stream(gw: Gateway, f: Filters, since: int | None, recheck: Recheck = lambda: None,
                 timeout: float | None = None) -> AsyncIterator[bytes]:
    """`timeout` (seconds, `timeoutSeconds`) ends the stream as Kubernetes' watch does; 0: after one round."""
    from projections.readmodel import ChangesExpired

    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    announced = gw.changes.seq
    cursor = since
    while not gw.changes.closed:
        try:
            recheck()
        except ApiError as e:
            yield frame("ERROR", cursor or 0, e.body)
            return
        if cursor is None:  # (re)start from a consistent listing
            cursor = await gw.reads.checkpoint()
            async for chunk in initial(gw, f, cursor):
                yield chunk
            yield frame("BOOKMARK", cursor, {}) if f.bookmarks else b": watching\n\n"
        through = await gw.reads.checkpoint()  # before reading changes: see ReadModel.changed_since
        kind, namespace = f.query()
        try:
            changes = await gw.reads.changed_since(cursor, kind, namespace, f.label_selector, f.phase, PAGE)
        except ChangesExpired:
            cursor = None
            continue
        for change in changes:
            if f.wants(change.object):
                yield frame(change.type, change.seq, change.object)
        if changes:  # first past what was sent: changes may have committed after `through` was read
            cursor = changes[-1].seq
        if len(changes) >= PAGE:
            continue
        cursor = max(cursor, through)  # every change up to `through` was in this (unfilled) page
        left = FALLBACK_POLL if deadline is None else min(FALLBACK_POLL, deadline - loop.time())
        if left <= 0:
            return
        before = announced
        announced = await gw.changes.wait(announced, left)
        if announced == before:
            yield b": keepalive\n\n"


@get("/v1/watch", summary="Server-Sent Events of changes (filters as on list)")
async def watch(request: Request[Any, Any, Any],
                kind: Annotated[str | None, Parameter(query="kind")] = None,
                namespace: Annotated[str | None, Parameter(query="namespace")] = None,
                label_selector: Annotated[str | None, Parameter(query="labelSelector")] = None,
                phase: Annotated[str | None, Parameter(query="phase")] = None,
                resource_version: Annotated[int | None,
                                            Parameter(query="resourceVersion", ge=0, le=MAX_SEQ)] = None,
                timeout_seconds: Annotated[int | None,
                                           Parameter(query="timeoutSeconds", ge=0, le=86400)] = None,
                refs: Annotated[list[str] | None, Parameter(query="ref", max_items=MAX_REFS)] = None,
                bookmarks: Annotated[bool, Parameter(query="bookmarks")] = False,
                ) -> Response[Any]:
    gw = gateway(request)
    authorization = request.headers.get("authorization")
    principal = gw.principal(authorization)
    info = resolve_kind(kind, gw.registry) if kind else None
    scope = Ref(info.key if info else "*", namespace, "") if namespace else None
    targets = [_target(raw) for raw in refs or ()]
    scopes: list[tuple[KindInfo | None, Ref | None]] = list(targets) if targets else [(info, scope)]
    for what, where in scopes:
        gw.allow(principal, "watch", what, where)
    try:
        selectors.parse(label_selector)
    except ValueError as e:
        raise ApiError(400, "Malformed", str(e), [ErrorDetail("labelSelector", str(e))]) from e
    since = resource_version if resource_version is not None else last_event_id(
        request.headers.get("last-event-id"))

    def recheck() -> None:
        try:
            who = gw.principal(authorization)
            for what, where in scopes:
                gw.allow(who, "watch", what, where)
        except ApiError as e:  # the right is gone: the stream ends, and that decision is audited too
            refusals.record(gw, "GET", "/v1/watch", {"ns": namespace, "kind": info.name if info else ""},
                            authorization, e)
            raise

    filters = Filters(info, namespace, label_selector, phase, frozenset(r for _, r in targets), bookmarks)
    frames = guarded(stream(gw, filters, since, recheck, timeout_seconds))
    return Stream(frames, media_type="text/event-stream",
                  headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def guarded(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A bug after the 200 went out ends the stream with an `ERROR` event, not a broken connection."""
    try:
        async for chunk in frames:
            yield chunk
    except Exception as e:  # noqa: BLE001 - the status line is sent: this is the only way left to say it
        _log.exception("watch stream failed", error=repr(e))
        yield frame("ERROR", 0, ApiError(500, "Internal", "internal server error").body)


def _target(raw: str) -> tuple[KindInfo, Ref]:
    """`kind/namespace/name` (the namespace of a cluster-scoped kind is ignored) as a checked ref."""
    parts = raw.split("/")
    if len(parts) != 3:
        message = f"ref must be kind/namespace/name, got {raw[:80]!r}"
        raise ApiError(400, "Malformed", message, [ErrorDetail("ref", message)])
    return ref_of(*parts)


def last_event_id(value: str | None) -> int | None:
    """`Last-Event-ID` (a sequence) or None; 400 for anything but ASCII digits ("²".isdigit() is True)."""
    if value is None or not value.strip():
        return None
    if not (value.strip().isascii() and value.strip().isdigit()):
        message = f"Last-Event-ID must be a sequence number, got {value[:40]!r}"
        raise ApiError(400, "Malformed", message, [ErrorDetail("Last-Event-ID", message)])
    return int(value.strip())


ROUTES = [watch]
