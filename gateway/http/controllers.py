"""`GET /v1/controllers`: the controller hosts and the partitions each holds (the ops view of sharing).

Read straight off the lease board (`bosun-leases`: each host's presence record, refreshed with every
lease renewal), not the read model: it answers "who runs what now", which the log does not record.
"""
from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, get

from actors.balance import Presence, all_presences
from core import log as corelog
from gateway.errors import unavailable
from gateway.http.glue import gateway


class Controllers(msgspec.Struct, frozen=True):
    items: list[Presence]
    """Every live controller host of every scope: the main hosts and the per-kind ones (`BOSUN_KINDS`)."""
    unowned: list[int]
    """The main scope's partitions with a lease no live host reports holding (briefly, while a dead host's
    leases expire)."""
    unownedByScope: dict[str, list[int]] = {}
    """The same for each per-kind scope that has any."""


@get("/v1/controllers", summary="Controller hosts: partitions held, lease expiry, lag, actors in memory")
async def controllers(request: Request[Any, Any, Any]) -> Controllers:
    gw = gateway(request)
    gw.allow(gw.principal(request.headers.get("authorization")), "list", None, None)
    try:
        board = await gw.log.kv_entries(corelog.LEASES)
    except corelog.TRANSIENT_READ as e:
        raise unavailable(f"the lease board is unavailable: {e}") from e
    items = all_presences(board, time.time())
    unowned: dict[str, list[int]] = {}
    for key in board:
        scope, _, n = key.rpartition(".")
        scope, dot, kind = scope.rpartition(".") if "." in scope else ("", "", scope)
        if kind != "p" or not n.isdigit() or (dot and "." in scope):
            continue
        held = {p for item in items if item.scope == scope for p in item.partitions}
        if int(n) not in held:
            unowned.setdefault(scope, []).append(int(n))
    main = sorted(unowned.pop("", []))
    return Controllers(items, main, {s: sorted(ps) for s, ps in sorted(unowned.items())})

ROUTES = [controllers]
