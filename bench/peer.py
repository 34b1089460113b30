"""peer: the Python `eventsourcing` library (SQLite persistence) rebuilding the same N aggregates x M events.

Bosun's side is the cold-restart catch-up without snapshots (bench/coldstart.py) for the same N x M in
the same run: a fresh controller host folding every event from JetStream. The peer's side seeds N
aggregates with M events each into SQLite through an `eventsourcing` Application (a creation event
carrying the same spec, then M-1 status updates carrying the same fields as Bosun's), then a FRESH
application instance reconstructs every aggregate with `repository.get(id)` (no snapshots, no cache).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.coldstart import SPEC, cold_catch_up, seeded

BATCH = 500  # aggregates per `save` (one SQLite transaction) while seeding


def _env(db: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)}


def peer_rebuild(n: int, events_per_resource: int) -> dict[str, Any]:
    from bench._peer_model import Deployment, Fleet

    workdir = Path(tempfile.mkdtemp(prefix="bosun-bench-peer-"))
    try:
        db = workdir / "peer.sqlite"
        app = Fleet(env=_env(db))
        ids: list[UUID] = []
        t0 = time.monotonic()
        for start in range(0, n, BATCH):
            batch = []
            for i in range(start, min(n, start + BATCH)):
                agg = Deployment(name=f"d{i}", spec=SPEC)
                for k in range(events_per_resource - 1):
                    agg.update_status(observed_generation=1, phase="Ready",
                                      conditions=[{"type": "Ready", "status": "True"}],
                                      fields={"readyReplicas": 0, "desiredReplicas": 0, "n": k})
                batch.append(agg)
                ids.append(agg.id)
            app.save(*batch)
        seeded_s = time.monotonic() - t0
        app.close()
        fresh = Fleet(env=_env(db))  # nothing cached: every aggregate comes from its stored events
        t0 = time.monotonic()
        versions = 0
        for aggregate_id in ids:
            versions += fresh.repository.get(aggregate_id).version
        rebuilt = time.monotonic() - t0
        fresh.close()
        if versions != n * events_per_resource:
            raise RuntimeError(f"peer rebuilt {versions} events, expected {n * events_per_resource}")
        return {"library": "eventsourcing " + _version(), "persistence": "eventsourcing.sqlite (file)",
                "aggregates": n, "events": versions, "seed_seconds": round(seeded_s, 3),
                "rebuild_seconds": round(rebuilt, 3),
                "events_per_second": round(versions / rebuilt) if rebuilt else None,
                "db_bytes": db.stat().st_size}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _version() -> str:
    from importlib.metadata import version

    return version("eventsourcing")


async def run_peer(n: int, events_per_resource: int) -> dict[str, Any]:
    async with seeded(n, events_per_resource) as s:
        cold, running = await cold_catch_up(s)
        await running.close()
        bosun = {"aggregates": n, "events": s.last, "seed_seconds": round(s.seconds, 3),
                 "rebuild_seconds": round(cold, 3), "events_per_second": round(s.last / cold) if cold else None,
                 "how": "cold controller host, no snapshots: every event fetched from JetStream and folded"}
    peer = peer_rebuild(n, events_per_resource)
    ratio = round(bosun["rebuild_seconds"] / peer["rebuild_seconds"], 3) if peer["rebuild_seconds"] else None
    return {"resources": n, "events_per_resource": events_per_resource, "bosun": bosun, "peer": peer,
            "ratio_bosun_over_peer": ratio}
