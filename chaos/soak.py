"""The soak: steady applies with periodic deletes; every component's RSS, fds and threads sampled.

Why a bounded live set (creates balanced by deletes): memory that grows with the number of live
resources is not a leak; memory that grows while the live set stays flat is. The slope (least squares
over the samples after warm-up) is the figure; p99 apply latency and declared->Ready are compared
between the first and the second half of the run, where a leak or a growing backlog would show.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.badinput import Noise, replay
from chaos.door import Door
from chaos.figures import percentile, slope, table
from chaos.load import deployment
from chaos.tree import Tree
from chaos.verify import settled

NS = "soak"
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Sample:
    t: float
    rss: int
    fds: int
    threads: int


def sample(pid: int, t: float) -> Sample | None:
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except (OSError, ValueError, IndexError):
        return None
    return Sample(t, rss, fds, threads)


@dataclass
class SoakReport:
    seconds: float = 0.0
    applies: int = 0
    deletes: int = 0
    errors: int = 0
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    apply_latency: list[tuple[float, float]] = field(default_factory=list)
    ready_latency: list[tuple[float, float]] = field(default_factory=list)
    noise: Noise | None = None
    """The bad-input corpus replayed during the second half, when cases were given."""

    def halves(self, series: list[tuple[float, float]]) -> tuple[float, float]:
        mid = self.seconds / 2
        return (percentile([v for t, v in series if t < mid], 99), percentile([v for t, v in series if t >= mid], 99))

    def rss_slope(self, name: str) -> float:
        """MiB per minute, after the first fifth of the run (start-up allocations are not growth)."""
        pts = [(s.t / 60, s.rss / 2**20) for s in self.samples[name] if s.t >= self.seconds / 5]
        return slope(pts)

    def render(self) -> str:
        rows = []
        for name, ss in sorted(self.samples.items()):
            rows.append([name, f"{ss[0].rss / 2**20:.1f}", f"{ss[-1].rss / 2**20:.1f}", f"{self.rss_slope(name):+.2f}",
                         f"{ss[0].fds}→{ss[-1].fds}", f"{ss[0].threads}→{ss[-1].threads}"])
        out = [table(["component", "RSS start MiB", "RSS end MiB", "slope MiB/min", "fds", "threads"], rows)]
        a1, a2 = self.halves(self.apply_latency)
        r1, r2 = self.halves(self.ready_latency)
        out.append(f"{self.seconds:.0f} s, {self.applies} applies, {self.deletes} deletes, {self.errors} errors; "
                   f"p99 apply {a1 * 1000:.1f} ms → {a2 * 1000:.1f} ms; "
                   f"p99 declared→Ready {r1 * 1000:.0f} ms → {r2 * 1000:.0f} ms (first half → second half)")
        if self.noise is not None:
            n = self.noise
            out.append(f"bad-input corpus in the second half: {n.sent} requests, {n.server_errors} 5xx, "
                       f"{len(n.unexpected)} cases answered otherwise than expected {n.unexpected[:3]}")
        return "\n".join(out)


async def _ready_after(door: Door, name: str, t0: float, report: SoakReport, start: float) -> None:
    deadline = t0 + 60
    while time.monotonic() < deadline:
        answer = await door.get(f"/v1/namespaces/{NS}/modeldeployments/{name}")
        if answer.status == 200 and settled(answer.body):
            report.ready_latency.append((t0 - start, time.monotonic() - t0))
            return
        await asyncio.sleep(0.05)


async def _sampler(tree: Tree, report: SoakReport, start: float, stop: asyncio.Event, every: float) -> None:
    while not stop.is_set():
        now = time.monotonic() - start
        for name, pid in tree.pids().items():
            s = sample(pid, now)
            if s is not None:
                report.samples.setdefault(name, []).append(s)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


async def _noise(door: Door, cases: Sequence[Any], after: float, stop: asyncio.Event) -> Noise | None:
    try:
        await asyncio.wait_for(stop.wait(), after)
        return None
    except TimeoutError:
        return await replay(door, cases, stop)


async def run(tree: Tree, door: Door, seconds: float, rate: float = 10.0, live: int = 20,
              every: float = 2.0, cases: Sequence[Any] = ()) -> SoakReport:
    """`rate` applies per second for `seconds`: a create each tick, a delete once `live` exist, scales between.

    With bad-input `cases`, they are replayed during the second half (the first half is the baseline).
    """
    report = SoakReport()
    start = time.monotonic()
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sampler(tree, report, start, stop, every))
    noise = asyncio.create_task(_noise(door, cases, seconds / 2, stop)) if cases else None
    watchers: set[asyncio.Task[None]] = set()
    alive: deque[str] = deque()
    i = 0
    while time.monotonic() - start < seconds:
        tick = start + i / rate
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
        if i % 2 == 0 or not alive:  # half creates, half scale changes
            name, replicas = f"s{i}", 1
        else:
            name, replicas = alive[i % len(alive)], 1 + (i // 2) % 3
        t0 = time.monotonic()
        answer = await door.apply(deployment(name, replicas, NS), "nats" if i % 3 == 0 else "http")
        t1 = time.monotonic()
        report.applies += 1
        if answer.status != 202:
            report.errors += 1
        else:
            report.apply_latency.append((t0 - start, t1 - t0))
            if replicas == 1 and name == f"s{i}":
                alive.append(name)
                if i % 4 == 0:
                    task = asyncio.create_task(_ready_after(door, name, t1, report, start))
                    watchers.add(task)
                    task.add_done_callback(watchers.discard)
        if len(alive) > live:
            victim = alive.popleft()
            report.deletes += 1
            report.errors += (await door.delete(deployment(victim, 1, NS))).status != 202
        i += 1
    report.seconds = time.monotonic() - start
    stop.set()
    await sampler
    if noise is not None:
        report.noise = await noise
    await asyncio.gather(*watchers)
    return report
