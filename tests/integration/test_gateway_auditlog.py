"""Pipelined audit records against a real nats-server: stored in submission order, awaited by `drain`,
failures only logged."""
from __future__ import annotations

import asyncio

import msgspec

from core import log as corelog
from core import natsserver, subjects
from core.audit import AuditRecord
from core.log import Log
from gateway.admission.audit import Recorder


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
