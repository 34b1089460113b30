"""describe: `bosun describe` latency on a large store: seed N resources straight into a read model,
serve it with a real `bosun gateway` process, and time `describe` (the in-process client path and the
whole CLI process).

    python -m bench describe --resources 10000
"""
from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from actors.registry import load
from bench.loop import run
from bench.stats import summary_ms
from core import headers as H
from core import natsserver, subjects
from core.codec import encode, event_headers
from core.events import Condition, Event, SpecApplied, StatusUpdated
from core.log import StoredMessage
from core.names import Ref
from core.ports import free_port
from core.replicas import ReplicaReady, ReplicaStarted, StartReplica
from projections import generations
from projections.store import Writer

load()  # the shipped kinds, as every component builds them

BOSUN = str(Path(sys.executable).parent / "bosun")
POOL = "infra/pool-a"


def resource_messages(i: int, seq: int, now: float) -> list[StoredMessage]:
    """The story of one converged deployment (spec, status, a command, its observations, Ready)."""
    ref = Ref("modeldeployment", f"team-{i % 50}", f"md-{i}")
    trace = f"00-{i:032x}-{1:016x}-01"
    spec = {"model": "llama-3-8b", "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"}}
    rid = f"md-{i}-1"
    story: list[tuple[str, Event, dict[str, str]]] = [
        (subjects.spec(ref), SpecApplied(generation=1, spec=spec, created=True), {H.PRINCIPAL: "admin"}),
        (subjects.ctl(ref, "modeldeployment"), StatusUpdated(observed_generation=1, phase="Progressing", conditions=(
            Condition(type="Ready", status="False", reason="ScalingUp", message="0/1 replicas ready"),)),
         {H.CAUSES: str(seq + 1)}),
        (subjects.cmd("sim", ref), StartReplica(replica=rid, pool=POOL, gpus=1, model="llama-3-8b", generation=1),
         {H.CAUSES: str(seq + 1), H.SENDER: ref.token}),
        (subjects.obs(ref), ReplicaStarted(replica=rid, pool=POOL), {H.CAUSES: str(seq + 3)}),
        (subjects.obs(ref), ReplicaReady(replica=rid, pool=POOL), {}),
        (subjects.ctl(ref, "modeldeployment"), StatusUpdated(
            observed_generation=1, phase="Ready",
            conditions=(Condition(type="Ready", status="True", reason="Converged", message="1/1 replicas ready"),),
            fields={"desiredReplicas": 1, "readyReplicas": 1, "replicasByPool": {POOL: 1}}),
         {H.CAUSES: f"{seq + 4},{seq + 5}"}),
    ]
    return [StoredMessage(seq + k + 1, subject, event_headers(event, now, **{H.TRACEPARENT: trace, **extra}),
                          encode(event), now) for k, (subject, event, extra) in enumerate(story)]


async def seed(db_dir: Path, n: int) -> int:
    db_dir.mkdir(parents=True, exist_ok=True)
    gen = generations.next_generation(db_dir)
    writer = await Writer.open(generations.path(db_dir, gen))
    now, seq, batch = time.time(), 0, []
    try:
        for i in range(n):
            msgs = resource_messages(i, seq, now)
            seq += len(msgs)
            batch += msgs
            if len(batch) >= 6000:
                await writer.apply(batch)
                batch = []
        if batch:
            await writer.apply(batch)
    finally:
        await writer.close()
    generations.flip(db_dir, gen)
    return seq


def run_describe(resources: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        messages = run(seed(work / "projections", resources))
        seeded = time.perf_counter() - started
        server = natsserver.start(work / "natsd")
        port = free_port()
        gw = subprocess.Popen([BOSUN, "gateway", "--nats", server.url(), "--data", str(work), "--http-port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return {"resources": resources, "messages": messages, "seed_seconds": round(seeded, 2),
                    **report(work, port, resources, samples)}
        finally:
            gw.terminate()
            gw.wait(30)
            server.stop()


def report(work: Path, port: int, resources: int, samples: int) -> dict[str, Any]:
    from bosun.client import Client
    from cli.describe import gather, render

    token = _wait_token(work / "admin.token")
    client = Client(f"http://127.0.0.1:{port}", token)
    _wait_up(client)
    rng = random.Random(7)
    timings = []
    for _ in range(samples):
        i = rng.randrange(resources)
        t0 = time.perf_counter()
        obj, facts = gather(client, "modeldeployments", f"team-{i % 50}", f"md-{i}")
        render(obj, facts)
        timings.append(time.perf_counter() - t0)
    env = {**os.environ, "BOSUN_SERVER": f"http://127.0.0.1:{port}", "BOSUN_TOKEN": token}
    walls = []
    for _ in range(5):
        i = rng.randrange(resources)
        t0 = time.perf_counter()
        subprocess.run([BOSUN, "describe", f"modeldeployment/md-{i}", "-n", f"team-{i % 50}"], env=env,
                       capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t0)
    return {"describe_client_warm": {"samples": len(timings), **summary_ms(timings)},
            "describe_cli_process": {"samples": len(walls), "median_ms": round(statistics.median(walls) * 1000, 1)}}


def _wait_token(path: Path) -> str:
    for _ in range(600):
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise SystemExit("gateway did not create its token")


def _wait_up(client: Any) -> None:
    for _ in range(600):
        try:
            client.get("modeldeployments", "md-0", namespace="team-0")
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise SystemExit("gateway did not come up")
