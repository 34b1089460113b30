"""The controller's snapshot listing at start is complete, or unknown — never short.

Why it matters: a short listing made a restarted controller start actors fresh although their snapshots
existed; one whose ctl subject had been quiet since before the checkpoint was fenced forever (found by
`bosun chaos run --rounds 100`). nats-py's KV watch can signal "caught up" before it delivers the keys
(its consumer-info call races the deliveries): about 1 listing in 250 came back empty in a standalone probe.

The race is injected here, deterministically: the real watcher of the real bucket, with its "caught up"
marker delivered first — what the race looks like to `Persistence.list_keys`. The unfixed code (which
trusted the listing) keeps an empty set and fails; the fix checks the count and lists again, or gives up
to "unknown" (every activation then asks the bucket).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from actors.persistence import LIST_TRIES, Persistence
from core import log as corelog

KEYS = {f"modeldeployment.chaos.d{i}" for i in range(17)}


class _Early:
    """A real KV watcher whose iteration starts with the "caught up" marker (None)."""

    def __init__(self, watcher: Any) -> None:
        self.watcher = watcher

    async def __aiter__(self) -> AsyncIterator[Any]:
        yield None
        async for entry in self.watcher:
            yield entry

    async def stop(self) -> None:
        await self.watcher.stop()


class _RacyBucket:
    """The real snapshot bucket; its first `racy` watches report "caught up" before any key."""

    def __init__(self, bucket: Any, racy: int) -> None:
        self.bucket, self.racy = bucket, racy

    async def watch(self, *args: Any, **kwargs: Any) -> Any:
        watcher = await self.bucket.watch(*args, **kwargs)
        if self.racy > 0:
            self.racy -= 1
            return _Early(watcher)
        return watcher

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bucket, name)


async def _listing(log: corelog.Log, racy: int) -> set[str] | None:
    persistence = Persistence(log)
    await persistence.open()
    persistence.snapshots = _RacyBucket(persistence.snapshots, racy)  # type: ignore[assignment]
    await persistence.list_keys()
    return persistence.keys


async def test_a_listing_cut_short_by_the_race_is_listed_again(log: corelog.Log) -> None:
    for key in KEYS:
        await log.kv_put(corelog.SNAPSHOTS, key, b"{}" + b" " * 200)
    assert await _listing(log, racy=0) == KEYS
    assert await _listing(log, racy=1) == KEYS, "one early marker: the next listing is complete"
    assert await _listing(log, racy=LIST_TRIES - 1) == KEYS
    assert await _listing(log, racy=LIST_TRIES) is None, "short every time: unknown, never a short set"


async def test_an_empty_bucket_lists_empty_at_once(log: corelog.Log) -> None:
    assert await _listing(log, racy=0) == set()
    assert await _listing(log, racy=LIST_TRIES) == set(), "nothing to miss: an empty listing is complete"
