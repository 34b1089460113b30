"""Replicas as data: `GET …/{name}/replicas` and a replica's log tail, `GET …/replicas/{replica}/logs?tail=N`.

The list comes from the read model (`projections.replicas`: pool, driver, node, pid, port, devices, state,
times, last error), readable by whoever may `get` the resource. The log tail is asked of the driver that
runs the replica, over core NATS (`core.logtail`), so it works wherever the gateway runs, not only on the
driver's machine; it needs the `logs` verb (a replica's output can say more than its status does).
"""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
import nats.errors
from litestar import Request, get
from litestar.params import Parameter

from core import logtail
from core.logtail import TailReply, TailRequest
from gateway.admission.validation import ref_of
from gateway.errors import not_found, unavailable
from gateway.http.glue import gateway
from gateway.http.reads import RESOURCE

ASK_TIMEOUT = 3.0
_reply = msgspec.json.Decoder(TailReply)
_json = msgspec.json.Encoder()
Req = Request[Any, Any, Any]


@get(RESOURCE + "/replicas", summary="The resource's replicas: node, pid, port, devices, state, times, last error")
async def list_replicas(request: Req, ns: str, kind: str, name: str) -> dict[str, Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info, ref = ref_of(kind, ns, name)
    gw.allow(principal, "get", info, ref)
    return {"items": await gw.reads.replicas(info.key, ref.namespace, ref.name)}


@get(RESOURCE + "/replicas/{replica:str}/logs",
     summary="The last lines a replica wrote (stdout and stderr), asked of the driver that runs it")
async def replica_logs(request: Req, ns: str, kind: str, name: str, replica: str,
                       tail: Annotated[int, Parameter(query="tail", ge=1, le=logtail.MAX_LINES)] = 100
                       ) -> dict[str, Any]:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    info, ref = ref_of(kind, ns, name)
    gw.allow(principal, "logs", info, ref)
    found = next((r for r in await gw.reads.replicas(info.key, ref.namespace, ref.name) if r["replica"] == replica),
                 None)
    if found is None:
        raise not_found(f"{info.name} {ref.namespace}/{ref.name} has no replica {replica!r}")
    driver = found.get("driver") or ""
    if driver in ("", "sim"):
        raise not_found(f"replica {replica} runs on the {driver or 'unknown'} driver: it has no process, no log",
                        code="NoLogs")
    asked = TailRequest(kind=info.key, namespace=ref.namespace, name=ref.name, replica=replica, lines=tail)
    try:
        msg = await gw.nc.request(logtail.subject(driver), _json.encode(asked), timeout=ASK_TIMEOUT)
    except nats.errors.NoRespondersError as e:
        raise unavailable(f"no {driver} driver answers log requests (is it running?)") from e
    except (nats.errors.TimeoutError, TimeoutError) as e:
        raise unavailable(f"the {driver} driver did not answer within {ASK_TIMEOUT:g}s") from e
    try:
        answer = _reply.decode(msg.data)
    except msgspec.DecodeError as e:
        raise unavailable(f"the {driver} driver's answer is not a log tail: {e}") from e
    if not answer.found:
        raise not_found(f"the {driver} driver has no log of replica {replica}"
                        + (f" ({answer.error})" if answer.error else ""), code="NoLogs")
    return {"replica": replica, "driver": driver, "node": found.get("node") or "", "lines": answer.lines,
            "truncated": answer.truncated, "size": answer.size}


ROUTES = [list_replicas, replica_logs]
