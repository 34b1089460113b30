"""A quarantined companion parks only itself: the resource's own actor keeps reconciling, its row shows
`<Companion>Reconciled` = False (Quarantined) beside the kind's own status, and `bosun retry` (a
RetryRequested on the resource's inbox) releases the companion. Real nats-server, the real controller host
in this process (its registry holds `tests.kinds.companion`)."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from actors import serving as controller
from core import codec, subjects
from core.events import ReconcileFailed, RetryRequested, SpecApplied, StatusUpdated
from core.log import Log
from core.names import Ref
from projections import reducer
from tests.conftest import REGISTRY, eventually, kinds_kept

REF = Ref("escorted", "team-a", "x")
COMPANION = "tests.kinds.companion"


@pytest.fixture(autouse=True)
def companion() -> Iterator[Any]:
    """`tests.kinds.companion`, in the process's registry for this test only."""
    with kinds_kept(COMPANION):
        yield sys.modules[COMPANION]


async def _slice(log: Log, name: str) -> list[Any]:
    info = REGISTRY.kind(REF.kind)
    return [codec.decode(info, m.data, m.headers) async for m in log.read(subjects.ctl(REF, name))]


async def _row(log: Log) -> reducer.Row | None:
    row = None
    async for m in log.read(f"bosun.ev.{REF.token}.>"):
        row = reducer.fold(row, m, reducer.decode(m))
    return row


async def test_a_quarantined_companion_does_not_park_the_resource(log: Log, nats_url: str, companion: Any) -> None:
    companion.BROKEN["on"] = True
    stop = asyncio.Event()
    task = asyncio.create_task(controller.serve(nats_url, stop=stop))
    try:
        await log.append(subjects.spec(REF), SpecApplied(generation=1, spec={"bad": True}, created=True))

        async def escort_quarantined() -> list[ReconcileFailed]:
            return [e for e in await _slice(log, "escort")
                    if isinstance(e, ReconcileFailed) and e.outcome == "quarantined"]

        [parked] = await eventually(escort_quarantined)
        assert parked.reason == "timeout"
        assert not any(isinstance(e, StatusUpdated) for e in await _slice(log, "escort"))  # narrative only
        for _ in range(3):
            await log.append(subjects.inbox(REF), companion.Poked())

        async def still_reconciling() -> bool:
            statuses = [e for e in await _slice(log, "escorted") if isinstance(e, StatusUpdated)]
            return bool(statuses) and statuses[-1].fields.get("pokes") == 3 and statuses[-1].phase == "Ready"

        await eventually(still_reconciling)
        row = await _row(log)
        assert row is not None and row.phase == "Ready" and row.fields["pokes"] == 3
        [cond] = [c for c in row.conditions if c.type == "EscortReconciled"]
        assert (cond.status, cond.reason) == ("False", "Quarantined")
        assert "the escort controller is quarantined" in cond.message

        companion.BROKEN["on"] = False  # the fixed build; then `bosun retry`
        await log.append(subjects.inbox(REF), RetryRequested())

        async def escort_decided() -> bool:
            return any(isinstance(e, companion.EscortDone) for e in await _slice(log, "escort"))

        await eventually(escort_decided)
        row = await _row(log)
        assert row is not None and not any(c.type == "EscortReconciled" for c in row.conditions)
    finally:
        companion.BROKEN["on"] = False
        stop.set()
        await task
