"""`GET /v1/controllers`: the controller hosts and the partitions each holds (the ops view of sharing).

Read straight off the lease board (`bosun-leases`: each host's presence record, refreshed with every
lease renewal), not the read model: it answers "who runs what now", which the log does not record.
"""
from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, get

from actors.balance import Presence, presences
from core import log as corelog
from gateway.errors import unavailable
from gateway.http.glue import gateway


class Controllers(msgspec.Struct, frozen=True):
    items: list[Presence]
    unowned: list[int]
    """Partitions with a lease no live host reports holding (briefly, while a dead host's leases expire)."""


@get("/v1/controllers", summary="Controller hosts: partitions held, lease expiry, lag, actors in memory")
async def controllers(request: Request[Any, Any, Any]) -> Controllers:
    gw = gateway(request)
    gw.allow(gw.principal(request.headers.get("authorization")), "list", None, None)
    try:
        board = await gw.log.kv_entries(corelog.LEASES)
    except corelog.TRANSIENT_READ as e:
        raise unavailable(f"the lease board is unavailable: {e}") from e
    items = presences(board, time.time())
    held = {p for item in items for p in item.partitions}
    leased = {int(k[2:]) for k in board if k.startswith("p.") and k[2:].isdigit()}
    return Controllers(items, sorted(leased - held))

ROUTES = [controllers]
