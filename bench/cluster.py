"""cluster: the burst on a 3-node R3 JetStream cluster (`bosun up --cluster 3`) with 1 and with 2 controller
hosts, beside the R1 figure (and R1 with `--sync always`) of the same run; then failover: the time from a
kill -9 (and from a SIGTERM) of one of two hosts until the other holds all 16 partitions again.

Per host: messages delivered to its consumers (one host reads the whole stream; two read their partitions
and the pools of the partition-mapped copy, `actors.intake`), partitions held at the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
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
    return out
