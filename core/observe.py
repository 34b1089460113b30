"""Observation of the log's append path: a `log.append` span, latency and OCC-conflict metrics.

Kept out of `core/log.py` so the log stays about JetStream; `Log.publish` wraps itself in
`observed_append`.
"""
from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry.trace import SpanKind

from core import headers as H
from core import metrics, subjects, tracing
from core.names import Ref
from core.stored import Conflict


def _where(subject: str) -> tuple[Ref | None, str]:
    try:
        parsed = subjects.parse(subject)
    except ValueError:
        return None, "other"
    return parsed.ref, "ctl" if parsed.slice.startswith("ctl.") else parsed.slice


@contextlib.contextmanager
def observed_append(subject: str, hdrs: dict[str, str]) -> Iterator[Callable[[int], None]]:
    """Open the append span and stamp its traceparent into `hdrs`; call the yielded function with the seq.

    With no SDK (nothing records spans) the append opens no span of its own: the message carries the
    current span's traceparent (the reconcile, admission, ... it happens in), which is all a non-recorded
    span would contribute, at a fraction of the cost on the hottest path.
    """
    ref, slice_ = _where(subject)
    started = time.perf_counter()
    try:
        if not tracing.recording():
            tracing.inject(hdrs)
            yield _ignore
            return
        parent = None if tracing.traceparent_of() else hdrs.get(H.TRACEPARENT)
        with tracing.span(f"log.append {slice_}", parent=parent, ref=ref, kind=SpanKind.PRODUCER,
                          attributes={"messaging.system": "nats", "messaging.destination.name": subject,
                                      "bosun.type": hdrs.get(H.TYPE, "")}) as sp:
            tracing.inject(hdrs)
            yield functools.partial(tracing.set_seq, sp)
    except Exception as e:
        if isinstance(e, Conflict):
            metrics.OCC_CONFLICTS.labels(slice_).inc()
        raise
    finally:
        _append_seconds(slice_).observe(time.perf_counter() - started)


def _ignore(_seq: int) -> None:
    pass


@functools.cache
def _append_seconds(slice_: str) -> Any:
    return metrics.APPEND_SECONDS.labels(slice_)
