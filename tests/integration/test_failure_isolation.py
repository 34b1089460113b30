"""An exception in one actor marks that resource Degraded and retries with backoff; others go on."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from actors import serving as controller
from actors.controller import DEFAULT
from bosun import Context, Decision, Kind, Resource
from core import codec, subjects
from core.events import ReconcileFailed, SpecApplied, StatusUpdated
from core.log import Log
from core.metrics import REGISTRY
from core.names import Ref
from tests.conftest import eventually, kinds_kept


class FlakySpec(msgspec.Struct, frozen=True):
    explode: bool = False


class Flaky(msgspec.Struct, frozen=True):
    pass


def _decide(r: Resource[FlakySpec, Flaky], now: float, ctx: Context) -> Decision:
    if r.spec.explode:
        raise RuntimeError("boom: this reconciler has a bug")
    return Decision(events=(r.status_update("Ready"),))


FLAKY = Kind(name="Flaky", plural="flakies", spec=FlakySpec, state=Flaky, decide=_decide, controller="flaky")


@pytest.fixture(autouse=True)
def _flaky_registered() -> Iterator[None]:
    """The Flaky kind exists for these tests only (the host serving in this process loads the registry)."""
    with kinds_kept():
        FLAKY.add_to(DEFAULT)
        yield


async def _ctl(log: Log, ref: Ref) -> list[Any]:
    info = DEFAULT.kind(ref.kind)
    return [codec.decode(info, m.data, m.headers) async for m in log.read(subjects.ctl(ref, "flaky"))]


async def test_a_failing_actor_degrades_alone_and_retries(log: Log, nats_url: str) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(controller.serve(nats_url, stop=stop))
    bad = Ref("flaky", "team-a", "bad")
    good = [Ref("flaky", "team-a", f"good-{i}") for i in range(5)]
    try:
        await log.append(subjects.spec(bad), SpecApplied(generation=1, spec={"explode": True}, created=True))
        for ref in good:
            await log.append(subjects.spec(ref), SpecApplied(generation=1, spec={}, created=True))

        async def others_ready() -> bool:
            histories = await asyncio.gather(*(_ctl(log, r) for r in good))
            return all(any(isinstance(e, StatusUpdated) and e.phase == "Ready" for e in h) for h in histories)

        await eventually(others_ready)

        async def retried_and_degraded() -> bool:
            events = await _ctl(log, bad)
            failures = [e for e in events if isinstance(e, ReconcileFailed)]
            degraded = [e for e in events if isinstance(e, StatusUpdated) and e.phase == "Degraded"]
            return len(failures) >= 2 and len(degraded) >= 1 and "boom" in degraded[-1].conditions[-1].message

        await eventually(retried_and_degraded)
        # Counted by kind and reason (the host runs in this process: its registry is ours).
        failed = REGISTRY.get_sample_value("bosun_reconcile_failures_total", {"kind": "flaky", "reason": "exception"})
        assert failed is not None and failed >= 2
        # The fix lands (a new spec): the resource recovers by itself.
        last = await log.last(subjects.spec(bad))
        assert last is not None
        await log.append(subjects.spec(bad), SpecApplied(generation=2, spec={}), expected_last_subject_seq=last.seq)

        async def recovered() -> bool:
            statuses = [e for e in await _ctl(log, bad) if isinstance(e, StatusUpdated)]
            return bool(statuses) and statuses[-1].phase == "Ready"

        await eventually(recovered)
    finally:
        stop.set()
        await task
