"""`--sync always` (issue #11): kill -9 of nats-server right after a burst loses no acknowledged write.

Runs only when `bosun up --help` lists `--sync`; otherwise it says so and checks nothing. For each mode
it measures the acknowledged-apply throughput of the burst, so the cost of `always` is a figure.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from chaos import verify
from chaos.door import Door
from chaos.ledger import Verdict, check
from chaos.load import POOL, Load
from chaos.tree import Tree, up_supports


@dataclass
class ModeResult:
    mode: str
    acked: int
    seconds: float
    verdict: Verdict

    @property
    def throughput(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0


async def one_mode(data: Path, mode: str, burst: float, extra: tuple[str, ...]) -> ModeResult:
    tree = Tree(data, (*extra, *(("--sync", mode) if mode != "default" else ()))).start()
    door = await Door(tree.url, tree.nats, tree.token).open()
    try:
        await door.apply(POOL)
        load = Load(door, writers=8, resources=4, delete_share=0.0)
        stop = asyncio.Event()
        task = asyncio.create_task(load.run(stop))
        t0 = time.monotonic()
        await asyncio.sleep(burst)
        stop.set()
        await task
        seconds = time.monotonic() - t0
        await asyncio.to_thread(tree.kill, "nats")  # right after the last acknowledgement
        _, values = await verify.converge(door, 90)
        verdict = check(load.ledger, verify.final_values(values, load.names()))
        return ModeResult(mode, verdict.acked, seconds, verdict)
    finally:
        await door.close()
        tree.stop()


async def run(data: Path, burst: float = 10.0, extra: tuple[str, ...] = ()) -> list[ModeResult] | None:
    """None when this `bosun up` has no `--sync` (issue #11 not merged)."""
    if not await asyncio.to_thread(up_supports, "--sync"):
        return None
    return [await one_mode(data / mode, mode, burst, extra) for mode in ("default", "always")]
