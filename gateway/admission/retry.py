"""A retry intent: lift a resource's quarantine (or terminal failure) and have it decide again.

It is a write like any other (authorized as `apply`, audited with verb `retry`), appended as a
`RetryRequested` on the resource's inbox, so it survives restarts and shows in history and replay.
Nothing in the spec changes: the resourceVersion stays what it was.
"""
from __future__ import annotations

from core import headers as H
from core import subjects
from core.events import RetryRequested
from core.kinds import KindInfo
from core.log import Log
from core.names import Ref
from gateway.admission import current as cur
from gateway.errors import not_found


async def retry(log: Log, info: KindInfo, ref: Ref, principal: str, traceparent: str,
                token: str) -> tuple[int, int]:
    """Append the request; the resource's (unchanged) resourceVersion and generation. `token` is the request's
    (`requests.py`): a round sent again after its ack was lost is deduplicated, not appended twice."""
    now = await cur.read(log, info, ref)
    if now.state != "live" or not info.controller:
        raise not_found(f"{info.name} {ref.namespace}/{ref.name} not found (or it has no reconciler)")
    await log.append(subjects.inbox(ref), RetryRequested(), msg_id=f"retry/{ref.token}/{token}",
                     extra={H.PRINCIPAL: principal, H.TRACEPARENT: traceparent})
    return now.seq, now.generation
