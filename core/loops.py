"""The event loop every component and benchmark runs on."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it is, with uvicorn[standard]); None: asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def all_or_none(stop: asyncio.Event, *loops: Coroutine[Any, Any, Any]) -> None:
    """Run loops that end together: when one fails, `stop` is set and the others must not outlive it (a
    failed controller run's lease renewal and flushes once kept going beside the next run's: renewing leases
    it had given up, announcing a stale presence, snapshotting stale actors)."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
