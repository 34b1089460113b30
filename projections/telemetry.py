"""Spans and metrics of the projector: one `project` span per applied message, lag and consumer gauges.

The read model is written a batch per transaction; each message's span covers that batch's apply (same
start and end) and is a child of the message's own traceparent, so every trace ends where the read model
(what `bosun get` shows) took the change in.

Without an SDK tracer provider (no exporter configured) spans are not recorded, and a `project` span
has nothing inside it that could carry its ids on (no appends, no log lines): none is opened then.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.trace import SpanKind

from core import headers as H
from core import metrics, subjects, tracing
from core.log import Log, StoredMessage


def project_spans(batch: Sequence[StoredMessage], started_ns: int) -> None:
    """Record the apply span of each message of a committed batch."""
    metrics.PROJECTED.inc(len(batch))
    if not tracing.recording():
        return
    for m in batch:
        parent = m.headers.get(H.TRACEPARENT)
        if not parent:
            continue
        try:
            ref = subjects.parse(m.subject).ref
        except ValueError:
            ref = None
        with tracing.span(f"project {m.headers.get(H.TYPE, 'message')}", parent=parent, ref=ref, seq=m.seq,
                          kind=SpanKind.CONSUMER, start_time=started_ns,
                          attributes={"messaging.system": "nats", "messaging.destination.name": m.subject}):
            pass


async def sample(log: Log, durable: str, checkpoint: int) -> None:
    """Projection lag (stream last seq - checkpoint) and the projector consumer's gauges."""
    info = await log.jsm.stream_info(log.stream)
    metrics.PROJECTION_CHECKPOINT.set(checkpoint)
    metrics.PROJECTION_LAG.set(max(0, int(info.state.last_seq) - checkpoint))
    consumer: Any = await log.jsm.consumer_info(log.stream, durable)
    metrics.observe_consumer(durable, consumer)
