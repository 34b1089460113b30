"""`DELETE /v1/namespaces/{ns}/nodes/{name}/commands`: remove a node's command consumer (docs/nodes.md).

The gateway makes the consumer `node-<NAME>` when the node's agent joins (`gateway.intents.nodes`); a node
taken out of the plane should not leave it behind on the stream (a consumer holds its position and its
unacked messages forever). Whoever may delete the Node may delete its consumer; a node joining again gets a
fresh one that starts after the stream's end, so it never replays its former life's commands.
"""
from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete

from core import log as corelog
from core import nodes
from gateway.admission.validation import ref_of
from gateway.errors import not_found, unavailable
from gateway.http.glue import gateway
from gateway.http.writes import RESOURCE
from gateway.intents.nodes import remove_commands


class Removed(msgspec.Struct, frozen=True, kw_only=True):
    consumer: str
    deleted: bool
    """False: there was none."""


@delete(RESOURCE + "/commands", status_code=200,
        summary="Delete a node's command consumer node-NAME (bosun node remove); needs `delete` on the Node")
async def remove_node_commands(request: Request[Any, Any, Any], ns: str, kind: str, name: str) -> Removed:
    """Under the resource's own path (a path of its own, `/v1/nodes/…`, would shadow `GET /v1/{kind}` for
    nodes in the router); only a Node has one."""
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info, ref = ref_of(kind, ns, name)
    gw.allow(principal, "delete", info, ref)
    if info.key != nodes.KIND:
        raise not_found(f"a {info.name} has no command consumer: only a Node does")
    try:
        deleted = await remove_commands(gw.log, ref.name)
    except corelog.TRANSIENT_READ as e:
        raise unavailable(f"the log is unavailable: {e}") from e
    return Removed(consumer=nodes.consumer(ref.name), deleted=deleted)


ROUTES = [remove_node_commands]
