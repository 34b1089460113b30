"""Pipelined audit records against a real nats-server: stored in submission order, awaited by `drain`,
failures only logged."""
from __future__ import annotations

import asyncio
import time

import msgspec

from core import log as corelog
from core import natsserver, subjects
from core.audit import AuditRecord
from core.log import Log
from gateway.admission.audit import BURST, Recorder


def record(name: str) -> AuditRecord:
    return AuditRecord(time=0.0, principal="p", verb="apply", kind="ModelDeployment", namespace="demo",
                       name=name, decision="allowed")


async def test_submit_returns_at_once_and_drain_waits_for_the_records_in_order(log: Log) -> None:
    recorder = Recorder(log)
    for name in ("a", "b", "c", "d", "e"):
        recorder.submit(record(name))
    assert recorder._pending  # nothing was awaited yet
    await recorder.drain()
    stored = [msgspec.json.decode(m.data, type=AuditRecord).name async for m in log.read(subjects.audit("demo"))]
    assert stored == ["a", "b", "c", "d", "e"]


async def test_drain_gives_up_after_its_timeout_and_failures_are_swallowed(nats_server: natsserver.Server) -> None:
    nc = await corelog.connect(nats_server.url(), "test")
    try:
        failing = Recorder(Log(nc))  # no stream listens on the audit subjects: the publish is refused
        failing.submit(record("y"))
        await failing.drain()  # logged, not raised
        nats_server.stop()  # now nothing answers at all: the record stays in flight
        slow = Recorder(Log(nc))
        slow.submit(record("x"))
        async with asyncio.timeout(60):  # a drain that ignored its own timeout would wait forever
            await slow.drain(timeout=0.05)
        assert slow._pending, "it gave up with the record still in flight"
    finally:
        await nc.close()


def refusal(name: str, when: float, principal: str = "anonymous", code: str = "Unauthorized") -> AuditRecord:
    return AuditRecord(time=when, principal=principal, verb="apply", kind="ModelDeployment", namespace="demo",
                       name=name, decision="unauthenticated", code=code, status=401)


async def test_repeated_refusals_are_one_record_per_source_reason_and_window_with_a_count(log: Log) -> None:
    """Issue #24: 1,500 refused requests add a handful of records, whose counts add up to 1,500."""
    recorder = Recorder(log, window=3600.0)
    now = time.time()
    for i in range(1500):
        recorder.submit(refusal(f"r{i}", now))
    for i in range(20):  # another source (a principal) and another reason are counted apart
        recorder.submit(refusal(f"b{i}", now, principal="bob", code="Forbidden"))
    recorder.submit(record("allowed-ones-are-each-stored"))
    await recorder.drain()
    stored = [msgspec.json.decode(m.data, type=AuditRecord) async for m in log.read(subjects.audit("demo"))]
    refused = [r for r in stored if r.decision != "allowed"]
    assert len(refused) == 2 * (BURST + 1), [(r.principal, r.count) for r in refused]
    assert sum(r.count for r in refused if r.principal == "anonymous") == 1500
    assert sum(r.count for r in refused if r.principal == "bob") == 20
    assert [r.name for r in stored if r.decision == "allowed"] == ["allowed-ones-are-each-stored"]


async def test_a_new_window_stores_the_last_ones_count_and_starts_over(log: Log) -> None:
    recorder = Recorder(log, window=60.0)
    for i in range(BURST + 5):
        recorder.submit(refusal(f"old{i}", 60.0 * 10 + 1))
    recorder.submit(refusal("new", 60.0 * 11 + 1))
    await asyncio.sleep(0)
    await recorder.drain()
    stored = [msgspec.json.decode(m.data, type=AuditRecord) async for m in log.read(subjects.audit("demo"))]
    assert sorted((r.name, r.count) for r in stored) == sorted(
        [("new", 1), *((f"old{i}", 1) for i in range(BURST)), (f"old{BURST + 4}", 5)])
