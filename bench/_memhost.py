"""One controller host in a fresh process, for the `memory` scenario: prints one JSON line and exits.

    python -m bench._memhost --nats URL --mode active|passive [--trace] [--flush]

The baseline is this same process just before the host starts (modules imported, NATS connected,
collected), so the difference is what the host holds for the resources it serves:

- `active`: idle_seconds is huge, so after catch-up every resource with events past the checkpoint is a
  live actor. With `--flush`, snapshots and checkpoints are written afterwards (what a running host does
  every few seconds), so the next host's checkpoint covers the whole log.
- `passive`: the Host default idle_seconds; over a log whose checkpoint covers everything no actor is
  loaded, so what remains is the per-resource bookkeeping of a host whose resources are all passivated.

RSS (/proc/self/statm) never shrinks after frees, which is why each measurement is a fresh process.
With `--trace`, tracemalloc also counts live Python allocations (they do shrink), and in `active` mode
the actors are then passivated in place to show what a long-running host keeps per passivated resource.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc
from typing import Any

from actors.host import Host
from actors.registry import load
from bench.coldstart import settle, stop_host
from bench.loop import run
from core import log as corelog
from core.logs import configure

REGISTRY = load()  # the shipped kinds, as every component builds them


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def traced() -> int:
    return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0


async def measure(url: str, mode: str, trace: bool, flush: bool) -> dict[str, Any]:
    nc = await corelog.connect(url, f"bench-mem-{mode}")
    try:
        lg = corelog.Log(nc)
        await lg.ensure()
        keep = {"idle_seconds": 3600.0} if mode == "active" else {}  # passive: the Host default (30 s)
        host = Host(lg, registry=REGISTRY, host_id=f"mem-{mode}", flush_seconds=3600, **keep)
        if trace:
            tracemalloc.start()
        gc.collect()
        base_rss, base_traced = rss_bytes(), traced()
        stop = asyncio.Event()
        started = time.monotonic()
        task = asyncio.create_task(host.run(stop))
        await host.caught_up.wait()
        catch_up = time.monotonic() - started
        await settle(host, lg)
        gc.collect()
        rss, live = rss_bytes(), traced()
        out: dict[str, Any] = {
            "mode": mode, "idle_seconds": host.idle_seconds, "catch_up_seconds": round(catch_up, 3),
            "stream_messages": await lg.last_seq(), "actors_in_memory": len(host.cells),
            "snapshot_keys": len(host.persistence.keys or ()), "rss_baseline_bytes": base_rss,
            "rss_bytes": rss, "rss_delta_bytes": rss - base_rss}
        if trace:
            out["traced_delta_bytes"] = live - base_traced
            out["traced_peak_bytes"] = tracemalloc.get_traced_memory()[1] - base_traced
        if flush or (trace and mode == "active"):
            await host.flush()
        if trace and mode == "active":
            passivated = len(host.cells)
            host.idle_seconds = 0.0
            await host._passivate()  # passivate now rather than after idle_seconds
            gc.collect()
            out["passivated_in_place"] = passivated - len(host.cells)
            out["traced_delta_after_passivation_bytes"] = traced() - base_traced
        assert host.ownership is not None
        out["partitions_owned_at_end"] = len(host.ownership.owned)  # fewer than `partitions`: leases were lost
        out["partitions"] = host.partitions
        await stop_host(stop, task)
        return out
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats", required=True)
    parser.add_argument("--mode", choices=["active", "passive"], required=True)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--flush", action="store_true")
    args = parser.parse_args()
    configure("bench-mem", "WARNING")
    result = run(measure(args.nats, args.mode, args.trace, args.flush))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
