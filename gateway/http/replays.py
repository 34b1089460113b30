"""Replay and time-travel routes: incident bundles and the diff between two stream sequences.

`GET /v1/bundle?ref=kind/ns/name&ref=...` (or `?all=true`) streams an incident bundle (`core.bundles`);
the CLI replays it locally with today's code. A bundle holds only messages of resources the caller may
`history` (the pool a workload asked for GPUs, other namespaces' requests in that pool's ledger are left out
unless granted; the header's note says how many were). `GET /v1/diff?from=S1&to=S2` lists what changed.
"""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Stream

from actors.controller import Registry
from analysis import replaysource
from core import bundles, subjects
from core.log import StoredMessage
from core.names import Ref
from gateway.admission.auth import Authorizer, Principal
from gateway.admission.validation import ref_of, resolve_kind
from gateway.errors import malformed
from gateway.http import envtravel
from gateway.http.glue import gateway
from gateway.limits import MAX_SEQ

Req = Request[Any, Any, Any]
NDJSON = "application/x-ndjson"


@get("/v1/bundle", summary="Incident bundle: a resource's messages with headers, and its neighbours'",
     media_type=NDJSON)
async def bundle(request: Req, refs: Annotated[list[str] | None, Parameter(query="ref")] = None,
                 everything: Annotated[bool, Parameter(query="all")] = False,
                 up_to: Annotated[int | None, Parameter(query="upTo", ge=1, le=MAX_SEQ)] = None,
                 ) -> Stream:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    wanted: list[Ref] = []
    for text in refs or ():
        parts = text.split("/")
        if len(parts) != 3:
            raise malformed(f"ref must be kind/namespace/name, got {text!r}")
        info, ref = ref_of(parts[0], parts[1], parts[2], gw.registry)
        gw.allow(principal, "history", info, ref)
        wanted.append(ref)
    if everything:
        gw.allow(principal, "history", None, None)
    elif not wanted:
        raise malformed("give at least one ref=kind/namespace/name, or all=true")
    last = up_to or await gw.log.last_seq()
    allowed = functools.partial(readable, gw.authorizer, principal, gw.registry)
    return Stream(_lines(gw.log, wanted, everything, last, allowed), media_type=NDJSON)


def readable(authorizer: Authorizer, principal: Principal, registry: Registry, m: StoredMessage) -> bool:
    """May `principal` see `m` in a bundle: a resource's message it may `history`, an audit record of a
    namespace it may `audit`."""
    if m.subject.startswith("bosun.audit."):
        ns = m.subject.split(".", 2)[2]
        return authorizer.denial(principal, "audit", "*", Ref("*", ns, "")) is None
    try:
        parsed = subjects.parse(m.subject)
    except ValueError:
        return False
    info = registry.resolve(parsed.ref.kind)
    return info is not None and authorizer.denial(principal, "history", info.name, parsed.ref) is None


async def _lines(log: Any, wanted: list[Ref], everything: bool, last: int,
                 allowed: Callable[[StoredMessage], bool]) -> AsyncIterator[bytes]:
    if everything:
        yield bundles.encode_header(bundles.header([], last))
        async for m in replaysource.everything(log, last):
            if allowed(m):
                yield bundles.encode_line(m)
        return
    _, messages = await replaysource.collect(log, wanted, last)
    kept = [m for m in messages if allowed(m)]
    note = f"{len(messages) - len(kept)} messages the caller may not read were left out" if len(kept) < len(
        messages) else ""
    yield bundles.encode_header(bundles.header(wanted, last, note))
    for m in kept:
        yield bundles.encode_line(m)


@get("/v1/diff", summary="What changed between two stream sequences: per resource, field-level")
async def diff_points(request: Req,
                      start: Annotated[int, Parameter(query="from", ge=0, le=MAX_SEQ)],
                      end: Annotated[int | None, Parameter(query="to", ge=1, le=MAX_SEQ)] = None,
                      namespace: Annotated[str | None, Parameter(query="namespace")] = None,
                      kind: Annotated[str | None, Parameter(query="kind")] = None) -> dict[str, Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    infos = [resolve_kind(kind, gw.registry)] if kind else gw.registry.kinds()
    for info in infos:  # field-level changes over time are history, not a list: the `history` verb
        gw.allow(principal, "history", info, Ref(info.key, namespace, "") if namespace else None)
    last = end or await gw.log.last_seq()
    if start > last:
        raise malformed(f"from ({start}) is after to ({last})")
    items = await envtravel.diff_between(gw.log, infos, start, last, namespace, gw.registry)
    return {"from": start, "to": last, "items": items}


ROUTES = [bundle, diff_points]
