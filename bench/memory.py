"""memory: host RSS per active actor and per passivated resource, each measured in a fresh process.

For each resource count N: seed N ModelDeployments x M events into a private nats-server, then
(see bench/_memhost.py for what each child measures):

1. `active`   a fresh host loads every actor from the events (no snapshots), then writes snapshots and
              checkpoints: RSS delta / actors = bytes per active actor.
2. `passive`  a fresh host over the same log, whose checkpoint now covers everything: nothing is loaded;
              RSS delta / N = bytes per passivated resource (target: <= 2 KB).
3. `--trace`  the same two with tracemalloc (live Python bytes, which shrink when freed): a fresh passive
              host, then, with snapshots and checkpoints purged, an active host that afterwards
              passivates its actors in place.
"""
from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from bench.coldstart import seeded
from core import log as corelog

TARGET_PASSIVATED = 2048


async def child(url: str, mode: str, *, trace: bool = False, flush: bool = False) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench._memhost", "--nats", url, "--mode", mode]
    args += ["--trace"] * trace + ["--flush"] * flush
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench._memhost {mode} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


async def purge_snapshots(lg: corelog.Log) -> None:
    """Forget every snapshot and checkpoint: the next host folds every actor from its events."""
    for bucket in (corelog.SNAPSHOTS, corelog.CHECKPOINTS):
        await lg.jsm.purge_stream(f"KV_{bucket}")


def _per(total: int | None, count: int) -> int | None:
    return None if total is None or count <= 0 else round(total / count)


async def measure(n: int, events: int, trace: bool) -> dict[str, Any]:
    async with seeded(n, events) as s:
        url = s.server.url()
        active = await child(url, "active", flush=True)
        passive = await child(url, "passive")
        row: dict[str, Any] = {
            "resources": n, "events_per_resource": events, "stream_messages": passive["stream_messages"],
            "active_actors": active["actors_in_memory"],
            "rss_bytes_per_active_actor": _per(active["rss_delta_bytes"], active["actors_in_memory"]),
            "passive_actors_loaded": passive["actors_in_memory"],
            "rss_bytes_per_passivated_resource": _per(passive["rss_delta_bytes"], n),
        }
        runs = {"active": active, "passive": passive}
        if trace:
            runs["passive_traced"] = pt = await child(url, "passive", trace=True)
            await purge_snapshots(s.lg)
            runs["active_traced"] = at = await child(url, "active", trace=True)
            row["traced_bytes_per_active_actor"] = _per(at["traced_delta_bytes"], at["actors_in_memory"])
            row["traced_bytes_per_passivated_resource"] = _per(pt["traced_delta_bytes"], n)
            # Only a figure when the actors were passivated: a host that lost its partition leases (its
            # housekeeping flush outlasting the 15 s lease TTL, which tracemalloc's slowdown makes likely at
            # 100k actors) drops the actors instead, and the bytes left then say nothing about passivation.
            kept = at["partitions_owned_at_end"] == at["partitions"] and at["passivated_in_place"] > 0
            row["traced_bytes_per_passivated_in_place"] = (
                _per(at["traced_delta_after_passivation_bytes"], at["passivated_in_place"]) if kept else None)
        lost = [k for k, r in runs.items() if r["partitions_owned_at_end"] < r["partitions"]]
        row["runs_that_lost_leases"] = lost
        per = row["rss_bytes_per_passivated_resource"]
        row["meets_passivated_target"] = per is not None and per <= TARGET_PASSIVATED
        row["runs"] = runs
        return row


async def run_memory(counts: list[int], events: int, trace: bool) -> dict[str, Any]:
    rows = [await measure(n, events, trace) for n in counts]
    return {"target_bytes_per_passivated_resource": TARGET_PASSIVATED, "counts": rows}
