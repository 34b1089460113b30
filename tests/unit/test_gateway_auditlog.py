"""Pipelined audit records: published in submission order, awaited by `drain`, failures only logged."""
from __future__ import annotations

import asyncio

import msgspec

from core.log import Unavailable
from gateway.auditlog import AuditRecord, Recorder


def record(name: str) -> AuditRecord:
    return AuditRecord(time=0.0, principal="p", verb="apply", kind="ModelDeployment", namespace="demo",
                       name=name, decision="allowed")


class FakeLog:
    def __init__(self, delay: float = 0.01, fail: bool = False) -> None:
        self.sent: list[bytes] = []
        self.stored: list[bytes] = []
        self.delay = delay
        self.fail = fail

    async def publish(self, subject: str, data: bytes, hdrs: dict[str, str]) -> None:
        self.sent.append(data)  # what reaches the connection, synchronously, in this order
        await asyncio.sleep(self.delay)
        if self.fail:
            raise Unavailable("down")
        self.stored.append(data)


async def test_submit_returns_at_once_and_drain_waits_in_order() -> None:
    log = FakeLog()
    recorder = Recorder(log)  # type: ignore[arg-type]
    for name in ("a", "b", "c"):
        recorder.submit(record(name))
    assert log.stored == []
    await recorder.drain()
    names = [msgspec.json.decode(d, type=AuditRecord).name for d in log.stored]
    assert names == ["a", "b", "c"] and log.sent == log.stored

async def test_drain_gives_up_after_its_timeout_and_failures_are_swallowed() -> None:
    slow = Recorder(FakeLog(delay=10))  # type: ignore[arg-type]
    slow.submit(record("x"))
    started = asyncio.get_running_loop().time()
    await slow.drain(timeout=0.05)
    assert asyncio.get_running_loop().time() - started < 1
    failing = Recorder(FakeLog(fail=True))  # type: ignore[arg-type]
    failing.submit(record("y"))
    await failing.drain()  # logged, not raised
