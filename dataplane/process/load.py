"""Load observations for autoscaling: each ready replica's own load figure, summed per deployment.

Only a change is reported (one `LoadObserved` per deployment at most every `interval` seconds), so a
steady deployment adds nothing to the log; the autoscaler keeps the last figure it saw.
"""
from __future__ import annotations

import asyncio
import time

import httpx

from core import subjects
from core.names import Ref
from core.replicas import LoadObserved
from dataplane.base import outbox
from dataplane.base.outbox import Outbox
from dataplane.base.shell import retrying
from dataplane.process import probes, store
from dataplane.process.world import World

CHANGE = 0.01
"""Relative change below which a new figure is not worth an event."""


class LoadMeter:
    def __init__(self, http: httpx.AsyncClient, world: World, box: Outbox, interval: float) -> None:
        self.http = http
        self.world = world
        self.outbox = box
        self.interval = interval
        self.last: dict[str, tuple[float, int]] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.measure(time.time())

    async def measure(self, now: float) -> int:
        """Ask every ready replica that serves a load path; report deployments whose total changed."""
        targets = [r for r in self.world.records() if r.state == "ready" and r.launch.load_path]
        figures = await asyncio.gather(*(probes.load(self.http, r.port, r.launch.load_path) for r in targets))
        totals: dict[str, tuple[float, int]] = {}
        for rec, value in zip(targets, figures, strict=True):
            rps, n = totals.get(rec.token, (0.0, 0))
            totals[rec.token] = (rps + (value or 0.0), n + 1)
        for token in [t for t in self.last if t not in totals]:
            totals[token] = (0.0, 0)  # nothing serves any more: the load is gone too
        changed = {t: v for t, v in totals.items() if _changed(self.last.get(t), v)}
        if not changed:
            return 0
        with store.transaction(self.world.conn) as c:
            for token, (rps, n) in changed.items():
                ref = Ref.parse(token)
                outbox.add(c, subjects.obs(ref), LoadObserved(rps=round(rps, 3), replicas=n),
                           f"obs/{token}/load/{int(now * 1000)}", now)
        for token, figure in changed.items():
            if figure[1]:
                self.last[token] = figure
            else:
                self.last.pop(token, None)
        await retrying("report load", self.outbox.flush)
        return len(changed)


def _changed(before: tuple[float, int] | None, now: tuple[float, int]) -> bool:
    if before is None:
        return True
    if before[1] != now[1]:
        return True
    return abs(now[0] - before[0]) > CHANGE * max(1.0, before[0])
