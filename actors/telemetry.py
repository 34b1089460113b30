"""Spans and metrics of the controller host: the shell around `decide`, never inside the pure models.

A reconcile span is a child of the traceparent of the last event folded since the previous decision and
links to every one of them, so a decision caused by both a spec change and an observation is traceable to
both. The host's appends happen inside it, so their `log.append` spans (and the traceparent they stamp on
the events and commands) continue the same trace.
"""
from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any

from actors.cells import Cell
from core import metrics, tracing


@contextlib.contextmanager
def reconciling(cell: Cell, traces: list[str], stats: dict[str, int]) -> Iterator[None]:
    """Span + duration/result metrics around one decide-and-append; result read off the host's stats."""
    # A decision with no new events (a timer, a pool's capacity changing) continues the resource's latest
    # trace: the one of the change it is still working on.
    parent = traces[-1] if traces else cell.trace.get(tracing.TRACEPARENT)
    before = (stats.get("conflicts", 0), stats.get("failures", 0))
    started = time.perf_counter()
    result = "error"
    with tracing.span(f"reconcile {cell.ref.kind}", parent=parent, links=traces,
                      ref=cell.ref, seq=cell.hwm, root=True,
                      attributes={"bosun.causes": ",".join(map(str, cell.causes[-64:]))}) as sp:
        try:
            yield
            conflicts, failures = stats.get("conflicts", 0), stats.get("failures", 0)
            result = "conflict" if conflicts > before[0] else "error" if failures > before[1] else "ok"
            if result != "ok":
                tracing.fail(sp, result)
        finally:
            sp.set_attribute("bosun.result", result)
            count, seconds = _reconcile_metrics(cell.ref.kind, result)
            count.inc()
            seconds.observe(time.perf_counter() - started)


@functools.cache
def _reconcile_metrics(kind: str, result: str) -> tuple[Any, Any]:
    return metrics.RECONCILES.labels(kind, result), metrics.RECONCILE_SECONDS.labels(kind, result)


def sample(cells: dict[str, Cell], in_flight: int, consumer: str, info: Any | None) -> None:
    """Host gauges, sampled on housekeeping (never from the exposition thread: cells change under it)."""
    metrics.ACTORS_ACTIVE.set(len(cells))
    metrics.MAILBOX_DEPTH.set(sum(len(c.queue) for c in list(cells.values())))
    metrics.IN_FLIGHT.set(in_flight)
    if info is not None:
        metrics.observe_consumer(consumer, info)
