"""Archive and stream read as one sequence space (`Log.read`, `core.archive`): a read that is still going
while the archiver archives and purges what it has not reached yet misses nothing and yields nothing twice."""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from core import archive, subjects
from core import log as corelog
from core.events import SpecApplied, StatusUpdated
from core.names import Ref
from lifecycle.archiver import Archiver
from projections.projector import Projector
from tests.conftest import REGISTRY, eventually

GRACE = 0.5


async def test_a_slow_read_across_a_purge_loses_and_repeats_nothing(log: corelog.Log,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "PURGE_GRACE", GRACE)  # readers trust a head this long (scaled down)
    old = time.time() - 3600
    for i in range(60):
        ref = Ref("gpupool", "infra", f"p{i % 6}")
        await log.append(subjects.spec(ref), SpecApplied(generation=i + 1, spec={"n": i}), now=old)
        await log.append(subjects.obs(ref), StatusUpdated(observed_generation=i, phase="Ready"), now=old)
    total = (await log.jsm.stream_info(log.stream)).state.last_seq
    reader = corelog.Log(log.nc)
    seen: list[int] = []
    archiver = Archiver(corelog.Log(log.nc), retain=1, linger=0, grace=GRACE)
    await archiver.prepare()
    async with contextlib.aclosing(reader.read(">", batch=5)) as messages:
        async for m in messages:
            seen.append(m.seq)
            if len(seen) == 10:  # the reader is under way; now everything is archived and purged under it
                async def purged() -> bool:
                    await archiver.step()
                    return archiver.purged >= total
                await eventually(purged, timeout=30, interval=0.05)
                assert (await log.jsm.stream_info(log.stream)).state.messages < total // 2
            await asyncio.sleep(0.01)
    assert seen == list(range(1, total + 1))


async def test_a_new_read_model_with_no_snapshot_to_start_from_folds_the_archive(log: corelog.Log,
                                                                                tmp_path: Path) -> None:
    """Archived with no projector about (so no projection snapshot): a read model made afterwards folds
    the archive before its consumer takes over from the stream, and holds every resource's whole story."""
    old = time.time() - 3600
    for i in range(30):
        ref = Ref("gpupool", "infra", f"p{i % 3}")
        await log.append(subjects.spec(ref), SpecApplied(generation=i + 1, spec={"capacity": i}), now=old)
    total = (await log.jsm.stream_info(log.stream)).state.last_seq
    archiver = Archiver(corelog.Log(log.nc), retain=1, linger=0, grace=0)
    await archiver.prepare()

    async def purged() -> bool:
        await archiver.step()  # its first pass finds no projector to snapshot: the next ones go on
        return archiver.purged >= total
    await eventually(purged, timeout=30, interval=0.05)
    assert (await log.jsm.stream_info(log.stream)).state.messages == 3  # the pools' last specs

    (tmp_path / "projections").mkdir()
    projector = await Projector.open(corelog.Log(log.nc), tmp_path / "projections", registry=REGISTRY)
    try:
        assert projector.writer.checkpoint == total
        assert await projector.writer.counts() == {"resources": 3, "timeline": total}
    finally:
        await projector.close()
