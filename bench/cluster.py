"""cluster: the burst on a 3-node R3 JetStream cluster (`bosun up --cluster 3`) with 1 and with 2 controller
hosts, beside the R1 figure (and R1 with `--sync always`) of the same run; then failover: the time from a
kill -9 (and from a SIGTERM) of one of two hosts until the other holds all 16 partitions again; and node
loss (`node_kill`): a kill -9 of the stream leader's nats-server under a steady stream of HTTP applies.

Per host: messages delivered to its consumers (one host reads the whole stream; two read their partitions
and the pools of the partition-mapped copy, `actors.intake`), partitions held at the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors

from bench.burst import run_burst
from bench.plane import Plane
from core import log as corelog
from core import partitioned

SECOND = "bench-2"


class ClusterPlane(Plane):
    """`bosun up --cluster 3` (R3), optionally with a second controller host beside the supervisor's."""

    def __init__(self, *args: str, hosts: int = 1) -> None:
        super().__init__("--cluster", "3", "--controllers", "1", *args)  # the second is ours to kill
        self.hosts = hosts
        self.extra: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ClusterPlane:
        super().__enter__()
        if self.hosts > 1:
            self.start_second()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_second(signal.SIGKILL)
        super().__exit__(*exc)

    @property
    def client_nats(self) -> str:
        return self.conn["nats"].split(",")[0]

    @property
    def internal_nats(self) -> str:
        """Every node's URL as the gateway's user (reads the lease board and consumers; writes nothing)."""
        return self.nats_as("gateway")

    def start_second(self) -> None:
        bosun = str(Path(sys.executable).parent / "bosun")
        env = {**os.environ, "BOSUN_NATS_URL": self.conn["nats"], "BOSUN_STREAM_REPLICAS": "3",
               "BOSUN_NATS_CREDENTIALS": str(self.data / "nats-credentials.json"), "BOSUN_LOG_LEVEL": "WARNING"}
        self.extra = subprocess.Popen([bosun, "controller", "--host-id", SECOND], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop_second(self, sig: signal.Signals) -> None:
        if self.extra is not None and self.extra.poll() is None:
            os.killpg(self.extra.pid, sig)
            self.extra.wait(30)
        self.extra = None


async def board(url: str) -> dict[str, list[int]]:
    """Partitions per live host, off the lease board (what `GET /v1/controllers` shows)."""
    from actors.balance import presences

    nc = await corelog.connect(url, "bench-board")
    try:
        entries = await corelog.Log(nc).kv_entries(corelog.LEASES)
        return {p.hostId: p.partitions for p in presences(entries, time.time())}
    finally:
        await nc.close()


async def wait_board(url: str, check: Any, timeout: float = 60) -> float:
    """Seconds until `check(board)` holds (polled every 50 ms)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if check(await board(url)):
                return time.monotonic() - t0
        except (nats.errors.Error, corelog.Unavailable, TimeoutError):
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the lease board did not settle in time")


def _shared(n: int) -> Any:
    return lambda b: (len(b) == n and sorted(p for ps in b.values() for p in ps) == list(range(16))
                      and all(b.values()))  # every host holds some: a host still waiting for leases is not sharing


_SOURCE = re.compile(r"_.*$")


async def delivered(url: str) -> dict[str, int]:
    nc = await corelog.connect(url, "bench-delivered")
    try:
        jsm = corelog.Log(nc).jsm
        out: dict[str, int] = {}
        for stream in ("BOSUN", partitioned.stream_name("BOSUN")):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                for info in await jsm.consumers_info(stream):
                    if info.name.startswith("controller-"):  # a host's consumers: per partition, per publisher
                        host = _SOURCE.sub("", info.name.removeprefix("controller-"))
                        out[host] = out.get(host, 0) + int(info.delivered.consumer_seq or 0)
        return out
    finally:
        await nc.close()


async def failover(plane: ClusterPlane) -> dict[str, float]:
    """kill -9 of the second host, then SIGTERM of it: seconds until the first holds all 16 again."""
    url = plane.internal_nats
    await wait_board(url, _shared(2))
    t0 = time.monotonic()  # from the signal (stop_second waits for the process to be gone)
    plane.stop_second(signal.SIGKILL)
    killed = time.monotonic() - t0 + await wait_board(url, _shared(1))
    plane.start_second()
    rejoined = await wait_board(url, _shared(2))
    t0 = time.monotonic()
    plane.stop_second(signal.SIGTERM)
    handed = time.monotonic() - t0 + await wait_board(url, _shared(1))
    return {"after_kill9_seconds": round(killed, 2), "rejoin_rebalanced_seconds": round(rejoined, 2),
            "after_sigterm_seconds": round(handed, 2)}


def run_cluster(n: int, timeout: float, sync_always: bool, only: set[str] | None = None) -> dict[str, Any]:
    from bench.loop import run

    out: dict[str, Any] = {}
    variants: list[tuple[str, Any]] = [("r1", lambda: Plane())]
    if sync_always:
        variants.append(("r1_sync_always", lambda: Plane("--sync", "always")))
    variants += [("r3_1_host", lambda: ClusterPlane(hosts=1)), ("r3_2_hosts", lambda: ClusterPlane(hosts=2))]
    for name, make in variants:
        if only and name not in only:
            continue
        with make() as plane:
            if isinstance(plane, ClusterPlane) and plane.hosts > 1:
                run(wait_board(plane.internal_nats, _shared(2)))
            result = run(run_burst(plane, n, "nats", timeout))
            row = {k: result[k] for k in ("n", "all_ready_seconds", "resources_per_second", "declared_to_ready")}
            if isinstance(plane, ClusterPlane):
                row["delivered_per_host"] = run(delivered(plane.internal_nats))
                row["partitions_per_host"] = {h: len(ps) for h, ps in run(board(plane.internal_nats)).items()}
                if plane.hosts > 1:
                    row["failover"] = run(failover(plane))
            out[name] = row
    for victim in ("leader", "follower"):
        name = f"node_kill_{victim}"
        if (name not in only) if only else victim != "leader":
            continue  # the leader's kill runs by default, the follower's when asked for
        with ClusterPlane(hosts=1) as plane:
            out[name] = run(node_kill(plane, victim=victim))
    return out


async def stream_leader(url: str) -> str | None:
    """The server name (`bosun-<i>`) leading the BOSUN stream, or None while it has none."""
    nc = await corelog.connect(url, "bench-leader")
    try:
        info = await corelog.Log(nc).jsm.stream_info("BOSUN")
        return info.cluster.leader if info.cluster else None
    finally:
        await nc.close()


async def _elected(url: str, killed: str, t_kill: float, timeout: float = 60) -> float | None:
    """Seconds from the kill until another node leads the BOSUN stream (polled every 100 ms on one
    connection, made before the kill to a node that is not killed)."""
    urls = [u for i, u in enumerate(url.split(",")) if f"bosun-{i}" != killed]
    nc = await corelog.connect(urls[0], "bench-election")
    try:
        jsm = corelog.Log(nc).jsm
        while time.monotonic() - t_kill < timeout:
            with contextlib.suppress(nats.errors.Error, nats.js.errors.Error, TimeoutError):
                info = await asyncio.wait_for(jsm.stream_info("BOSUN"), 1)
                leader = info.cluster.leader if info.cluster else None
                if leader and leader != killed:
                    return time.monotonic() - t_kill
            await asyncio.sleep(0.1)
        return None
    finally:
        await nc.close()


class _Writes:
    """Every write of a node-kill run: (sent, seconds, answer), and when each accepted one was answered."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, float, str]] = []
        self.accepted: dict[str, float] = {}

    async def write(self, http: Any, i: int) -> None:
        import aiohttp

        from bench.burst import manifest

        t = time.monotonic()
        try:
            async with http.put(f"/v1/namespaces/bench/modeldeployments/d{i}",
                                data=msgspec.json.encode(manifest(i))) as r:
                answer = str(r.status)
                await r.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            answer = type(e).__name__
        done = time.monotonic()
        self.writes.append((t, done - t, answer))
        if answer == "202":
            self.accepted[f"d{i}"] = done

    def summary(self, t_kill: float, ready: dict[str, float]) -> dict[str, Any]:
        around = [(t, s, a) for t, s, a in self.writes if t + s >= t_kill]  # in flight at the kill, or after
        refused: dict[str, int] = {}
        for _, _, a in around:
            if a != "202":
                refused[a] = refused.get(a, 0) + 1
        acks = sorted(t for t in self.accepted.values() if t >= t_kill - 1.0)
        stalled = max((b - a for a, b in itertools.pairwise(acks)), default=None)
        before_kill = [n for n, t in self.accepted.items() if t < t_kill and n in ready]
        after_kill = [n for n, t in self.accepted.items() if t >= t_kill and n in ready]
        return {
            "writes": len(self.writes), "writes_around_kill": len(around), "refused_around_kill": refused,
            "max_write_wait_seconds": round(max((s for _, s, _ in around), default=0.0), 2),
            "writes_over_3s": sum(1 for _, s, _ in around if s > 3),
            "longest_gap_between_202s_seconds": None if stalled is None else round(stalled, 2),
            "accepted_before_kill_all_ready_after_kill_seconds": round(
                max((ready[n] for n in before_kill), default=t_kill) - t_kill, 2),
            "accepted_after_kill_max_accepted_to_ready_seconds": round(
                max((ready[n] - self.accepted[n] for n in after_kill), default=0.0), 2),
            "not_ready": sum(1 for n in self.accepted if n not in ready),
        }


async def _victim(url: str, victim: str) -> str:
    """The server name of the node to kill: the stream's leader, or another node."""
    leader = await stream_leader(url)
    if leader is None:
        raise RuntimeError("the BOSUN stream has no leader to kill")
    return leader if victim == "leader" else next(f"bosun-{i}" for i in range(3) if f"bosun-{i}" != leader)


async def node_kill(plane: ClusterPlane, rate: float = 20.0, before: float = 3.0, after: float = 15.0,
                    timeout: float = 120.0, victim: str = "leader") -> dict[str, Any]:
    """kill -9 of one nats node (the BOSUN stream's leader, or a `follower`) while HTTP clients apply new
    deployments at `rate` per second (open loop, each its own request): how long each write waited, what it
    was answered, how long the stream was leaderless, and how long after the kill every accepted deployment
    was Ready. Issue #27's failover goal: no write waits more than 3 s, every resource converges within 5 s."""
    from bench.burst import POOL, http_session, start_watch

    async with http_session(plane, 4) as http, http.put("/v1/namespaces/infra/gpupools/bench-pool", json=POOL) as r:
        r.raise_for_status()
    ready: dict[str, float] = {}
    writes = _Writes()
    _watch, watcher = await start_watch(plane, 1 << 30, ready, timeout + before + after)
    url = plane.internal_nats
    killed = await _victim(url, victim)
    pidfile = plane.data / "cluster" / f"node-{killed.rsplit('-', 1)[1]}" / "run" / "nats.pid"
    tasks: list[asyncio.Task[None]] = []
    election: asyncio.Task[float | None] | None = None
    async with http_session(plane, 512) as http:  # open loop: a write is sent on time, whatever the others wait
        t0 = time.monotonic()
        t_kill = t0 + before
        for i in range(int((before + after) * rate)):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            if election is None and time.monotonic() >= t_kill:
                t_kill = time.monotonic()
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
                election = asyncio.create_task(_elected(url, killed, t_kill) if victim == "leader"
                                               else asyncio.sleep(0, None))
            tasks.append(asyncio.create_task(writes.write(http, i)))
        await asyncio.gather(*tasks)
    elected = await election if election is not None else None
    deadline = time.monotonic() + timeout
    while any(n not in ready for n in writes.accepted) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await watcher
    return {"victim": f"{victim} ({killed})", "rate_per_second": rate,
            "stream_leader_elected_seconds": None if elected is None else round(elected, 2),
            **writes.summary(t_kill, ready)}
