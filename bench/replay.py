"""replay: fold and time-travel speed, `python -m bench replay [--events N] [--resources R] [--json]`.

1. actor fold: one ModelDeployment with a long history (decode + route + today's evolve, as `bosun
   replay` and `replay --check` do), in events/s.
2. reducer fold: the whole stream of R resources through projections' reducer (time travel), events/s.
3. environment `--at` against a real nats-server: R resources (spec + 2 status updates each),
   `GET /v1/{kind}?at=` folded from the log, in seconds (last seq and a middle seq).
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from actors.registry import load
from analysis import replay
from bench.loop import run
from core import codec, subjects
from core import headers as H
from core.events import Event, SpecApplied, StatusUpdated
from core.log import StoredMessage
from core.names import Ref
from core.replicas import ReplicaReady, ReplicaStarted, ReplicaStopped, StartReplica, StopReplica

REGISTRY = load()  # the shipped kinds, as every component builds them

SPEC = {"model": "llama-3-8b", "replicas": 2, "placement": {"region": "us-west-2", "gpu": "a100"},
        "gpusPerReplica": 1}


def _stored(seq: int, subject: str, event: Event, **extra: str) -> StoredMessage:
    hdrs = codec.event_headers(event, 1000.0 + seq, **extra)
    return StoredMessage(seq, subject, hdrs, codec.encode(event), 1000.0 + seq)


def long_history(events: int) -> tuple[Ref, list[StoredMessage]]:
    """A deployment whose replicas churn: start, started, ready, status, stop, stopped, ..."""
    ref = Ref("modeldeployment", "bench", "churn")
    out = [_stored(1, subjects.spec(ref), SpecApplied(generation=1, spec=SPEC, created=True))]
    cmd, obs, ctl = subjects.cmd("sim", ref), subjects.obs(ref), subjects.ctl(ref, "deployments")
    i = 0
    while len(out) < events:
        r = f"churn-{i}"
        seq = len(out)
        cycle: list[tuple[str, Event, dict[str, str]]] = [
            (cmd, StartReplica(replica=r, pool="infra/p", gpus=1, model="m", generation=1),
             {H.SENDER: ref.token, H.HWM: str(seq)}),
            (obs, ReplicaStarted(replica=r, pool="infra/p"), {}),
            (obs, ReplicaReady(replica=r, pool="infra/p"), {}),
            (ctl, StatusUpdated(observed_generation=1, phase="Ready", fields={"readyReplicas": i % 3}),
             {H.HWM: str(seq + 3)}),
            (cmd, StopReplica(replica=r, pool="infra/p"), {H.SENDER: ref.token, H.HWM: str(seq + 4)}),
            (obs, ReplicaStopped(replica=r, pool="infra/p"), {}),
        ]
        for subject, event, extra in cycle:
            out.append(_stored(len(out) + 1, subject, event, **extra))
        i += 1
    return ref, out[:events]


def environment(resources: int) -> list[StoredMessage]:
    """R deployments: a spec, then two status updates each, interleaved as a busy stream would be."""
    out: list[StoredMessage] = []
    refs = [Ref("modeldeployment", f"ns-{i % 50}", f"d{i}") for i in range(resources)]
    for ref in refs:
        spec = SpecApplied(generation=1, spec=SPEC, created=True)
        out.append(_stored(len(out) + 1, subjects.spec(ref), spec))
    for phase in ("Progressing", "Ready"):
        for ref in refs:
            status = StatusUpdated(observed_generation=1, phase=phase, fields={"readyReplicas": 2})
            out.append(_stored(len(out) + 1, subjects.ctl(ref, "deployments"), status))
    return out


def actor_fold(events: int) -> dict[str, Any]:
    ref, history = long_history(events)
    began = time.perf_counter()
    routed = replay.route(replay.decode(m) for m in history)[ref]
    state = replay.state_at(ref, routed)
    seconds = time.perf_counter() - began
    assert state.generation == 1
    return {"events": len(history), "seconds": round(seconds, 3), "events_per_s": int(len(history) / seconds)}


def reducer_fold(resources: int) -> dict[str, Any]:
    from projections.reducer import decode, fold

    stream = environment(resources)
    began = time.perf_counter()
    rows: dict[str, Any] = {}
    for m in stream:
        key = m.subject.split(".", 5)
        k = f"{key[2]}.{key[3]}.{key[4]}"
        rows[k] = fold(rows.get(k), m, decode(m))
    seconds = time.perf_counter() - began
    return {"events": len(stream), "resources": len(rows), "seconds": round(seconds, 3),
            "events_per_s": int(len(stream) / seconds)}


async def environment_at(resources: int) -> dict[str, Any]:
    from core import log as corelog
    from core import natsserver
    from gateway.http.envtravel import objects_at

    with tempfile.TemporaryDirectory() as tmp:
        server = natsserver.start(Path(tmp))
        try:
            nc = await corelog.connect(server.url(), "bench-replay")
            lg = corelog.Log(nc)
            await lg.ensure()
            stream = environment(resources)
            for start in range(0, len(stream), 2000):
                await asyncio.gather(*(lg.js.publish(m.subject, m.data, headers=m.headers)
                                       for m in stream[start:start + 2000]))
            last = await lg.last_seq()
            info = REGISTRY.kind("modeldeployment")
            began = time.perf_counter()
            items = await objects_at(lg, info, last)
            at_last = time.perf_counter() - began
            began = time.perf_counter()
            middle = await objects_at(lg, info, resources + resources // 2)
            at_middle = time.perf_counter() - began
            await nc.close()
        finally:
            server.stop()
    assert len(items) == resources and len(middle) == resources
    return {"resources": resources, "stream_messages": last, "at_last_seconds": round(at_last, 3),
            "at_middle_seconds": round(at_middle, 3), "folded_per_s": int(last / at_last)}


def run_replay(events: int, resources: int, with_nats: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"actor_fold": actor_fold(events), "reducer_fold": reducer_fold(resources)}
    if with_nats:
        result["environment_at"] = run(environment_at(resources))
    return result
