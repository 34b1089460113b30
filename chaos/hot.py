"""Read-modify-write with If-Match on one hot resource, from many writers over HTTP and NATS.

The invocation/response history of every conditional write goes to the CAS-register checker
(`linearizable`); each acknowledged write is read back with `?minVersion=` (read-your-writes: it must
never show an older version). Reads themselves come from the projections, which lag by design, so they
are not register operations: a stale read only makes the following write fail its If-Match.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from chaos.door import Door
from chaos.linearizable import Cas, Result, check

HOT: dict[str, Any] = {"kind": "GpuPool", "metadata": {"name": "hot", "namespace": "infra"},
       "spec": {"region": "eu-west-1", "gpu": "l4", "capacity": 0, "namespaces": ["*"]}}
PATH = "/v1/namespaces/infra/gpupools/hot"


def pool(capacity: int) -> dict[str, Any]:
    """No writer label: writers that read the same version send *identical* content with the same
    If-Match, so the strict model also checks that such a pair is never both acknowledged (each request
    has its own Nats-Msg-Id; see gateway/admission/requests.py)."""
    return {**HOT, "spec": {**HOT["spec"], "capacity": capacity}}


@dataclass
class HotReport:
    history: list[Cas] = field(default_factory=list)
    initial: tuple[object, int | None] = (0, None)
    stale_reads: list[tuple[int, int]] = field(default_factory=list)
    """(acknowledged version, version a ?minVersion= read returned) when the read was older."""
    retried: int = 0
    """409 "too many concurrent writers": refused before any compare, not a register operation."""
    result: Result | None = None

    @property
    def identical_refused(self) -> int:
        """Refusals whose content and If-Match equal an acknowledged write's: the pairs strict CAS is about
        (the old content-derived msg id answered both 202)."""
        won = {(c.expect, c.value) for c in self.history if c.ok}
        return sum(1 for c in self.history if c.ok is False and (c.expect, c.value) in won)

    @property
    def ok(self) -> bool:
        return bool(self.result and self.result.ok) and not self.stale_reads

    def render(self) -> str:
        acked = sum(1 for c in self.history if c.ok)
        failed = sum(1 for c in self.history if c.ok is False)
        unknown = sum(1 for c in self.history if c.ok is None)
        verdict = "linearizable" if self.result and self.result.ok else "NOT linearizable"
        return (f"If-Match history: {len(self.history)} writes ({acked} acked, {failed} refused 409, "
                f"{unknown} unknown) from {len({c.client for c in self.history})} writers: {verdict}; "
                f"read-your-writes violations: {len(self.stale_reads)}; writer-contention retries: {self.retried}; "
                f"refused although identical to an acked write from the same version: {self.identical_refused}")


async def _read(door: Door, min_version: int | None) -> tuple[int, int] | None:
    query = f"?minVersion={min_version}" if min_version else ""
    answer = await door.get(PATH + query)
    if answer.status != 200:
        return None
    obj = answer.body
    return int(obj["metadata"]["resourceVersion"]), int(obj["spec"]["capacity"])


async def writer(door: Door, client: int, writes: int, report: HotReport) -> None:
    via = "nats" if client % 2 else "http"
    known: int | None = None
    for _ in range(writes):
        seen = await _read(door, known)
        if seen is None:
            continue
        version, value = seen
        t0 = time.monotonic()
        answer = await door.apply(pool(value + 1), via, if_match=version)
        t1 = time.monotonic()
        message = str((answer.body or {}).get("error", {}).get("message", "")) if answer.status == 409 else ""
        if "too many concurrent writers" in message:
            report.retried += 1
            continue
        ok = True if answer.status == 202 else False if answer.status == 409 else None
        report.history.append(Cas(t0, t1, version, value + 1, ok, answer.version if ok else None, client))
        if ok and answer.version is not None:
            known = answer.version
            back = await _read(door, answer.version)
            if back is not None and back[0] < answer.version:
                report.stale_reads.append((answer.version, back[0]))


async def run(door: Door, writers: int = 8, writes: int = 12) -> HotReport:
    """Create the hot pool, let `writers` race on it, check the history."""
    created = await door.apply(HOT)
    assert created.status == 202 and created.version is not None, created
    report = HotReport(initial=(0, created.version))
    await _read(door, created.version)  # writers skip a read that finds nothing: start once the read model has it
    await asyncio.gather(*(writer(door, c, writes, report) for c in range(writers)))
    report.result = await asyncio.to_thread(check, report.history, report.initial)
    return report
