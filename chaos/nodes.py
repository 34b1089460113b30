"""The nats-server nodes of a `bosun up --cluster N` tree: found from its data directory, and "has the
restarted node caught up?" asked of JetStream itself.

Why wait for the catch-up: the rounds kill one node at a time so the cluster keeps its quorum; a node
killed while the previously killed one is still catching up would leave a replica group with one current
peer — unavailable, not a finding. The check uses the data directory's gateway credentials (the tool
runs beside `bosun up`, as it reads the sim driver's world; it only reads); clients cannot read stream state.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlparse

import nats
import nats.errors
from nats.js import api
from nats.js.manager import JetStreamManager

from core import natscreds, natsusers

PREFIX = "nats-"


def node_pids(data: Path) -> dict[str, int]:
    """`nats-<i>` -> pid, from `<data>/cluster/node-<i>/run/nats.pid` (empty for a single node)."""
    found: dict[str, int] = {}
    for pidfile in sorted((data / "cluster").glob("node-*/run/nats.pid")):
        try:
            found[PREFIX + pidfile.parent.parent.name.removeprefix("node-")] = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
    return found


def internal_url(data: Path) -> str:
    """The gateway's NATS user (it reads the whole stream and manages it) at every node of the tree under
    `data`: a cluster's nodes, or the single server `connection.json` names."""
    creds = natscreds.Credentials.load(data / "nats-credentials.json")
    ports_file = data / "cluster" / "ports.json"
    if ports_file.exists():
        ports = json.loads(ports_file.read_text())["client"]
    else:
        ports = [urlparse(json.loads((data / "connection.json").read_text())["nats"]).port]
    return natscreds.with_user(",".join(f"nats://127.0.0.1:{p}" for p in ports), creds.of("gateway"))


def _current(cluster: api.ClusterInfo | None, size: int) -> bool:
    """A leader and every other peer current (a group smaller than the cluster counts its own peers)."""
    if cluster is None or not cluster.leader:
        return False
    peers = cluster.replicas or []
    return all(p.current and not p.offline for p in peers) and len(peers) + 1 >= min(size, 3)


async def caught_up(data: Path, size: int = 3, timeout: float = 60.0) -> float:
    """Wait until every stream (KV buckets included) and every consumer has a leader and all replicas
    current; seconds waited. TimeoutError after `timeout`."""
    t0 = time.monotonic()
    nc = await nats.connect(internal_url(data).split(","), name="bosun-chaos-nodes", max_reconnect_attempts=-1,
                            reconnect_time_wait=0.2, inbox_prefix=natsusers.inbox_of(natsusers.GATEWAY.user),
                            error_cb=_quiet)
    try:
        manager = nc.jsm()
        while True:
            try:
                if await _all_current(manager, size):
                    return time.monotonic() - t0
            except (TimeoutError, nats.errors.Error):
                pass
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"the cluster's replicas did not catch up within {timeout}s")
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def _quiet(_e: Exception) -> None:
    """The killed node refuses connections until it is back: expected here, not worth a traceback."""


async def _all_current(manager: JetStreamManager, size: int) -> bool:
    for stream in await manager.streams_info():
        replicas = stream.config.num_replicas or 1
        if replicas <= 1:
            continue
        if not _current(stream.cluster, replicas):
            return False
        for consumer in await manager.consumers_info(stream.config.name or ""):
            if not consumer.config.durable_name or (consumer.config.num_replicas or replicas) <= 1:
                continue  # ephemeral (ordered) consumers are R1: they go with their node and are re-made
            if not _current(consumer.cluster, replicas):
                return False
    return True
