"""Helpers for the cluster tests: a 3-node loopback JetStream cluster and every Bosun component as its own
OS process (`bosun controller|driver sim|projector|gateway --nats <seed list>`), as an operator runs them.

(No tests here; it lives beside them so the cluster tests and their helpers stay apart.)
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from core import log as corelog
from core.cluster import Cluster, free_port
from tests.integration.test_up_support import BOSUN, http_get


class Plane:
    """The components of one Bosun, each a process of its own, pointed at a cluster's seed list."""

    def __init__(self, root: Path, cluster: Cluster, lease_ttl: float = 3.0) -> None:
        self.root = root
        self.cluster = cluster
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, "BOSUN_NATS_URL": cluster.url(), "BOSUN_STREAM_REPLICAS": "3",
                    "BOSUN_LEASE_TTL": str(lease_ttl)}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.log", "ab") as out:
            proc = subprocess.Popen([BOSUN, *args], stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def controller(self, host_id: str) -> None:
        self.start(f"controller-{host_id}", "controller", "--host-id", host_id)

    def others(self) -> None:
        db = str(self.data / "projections")
        self.start("driver", "driver", "sim", "--data", str(self.data), "--latency", "0.02")
        self.start("projector", "projector", "--data", str(self.data), "--db-dir", db)
        self.start("gateway", "gateway", "--data", str(self.data), "--db-dir", db, "--http-port", str(self.port))

    def second_pair(self) -> str:
        """Another projector/gateway pair with its own read model (same admin token); its URL."""
        db, port = str(self.root / "projections-2"), free_port()
        self.start("projector-2", "projector", "--data", str(self.data), "--db-dir", db, "--durable", "projector-2")
        self.start("gateway-2", "gateway", "--data", str(self.data), "--db-dir", db, "--http-port", str(port))
        return f"http://127.0.0.1:{port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.data / "admin.token").read_text().strip()

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def exited(self) -> dict[str, int | None]:
        """Components that are no longer running (must stay empty: none may exit on a NATS failure)."""
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def output(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def healthy(self) -> bool:
        try:
            return http_get(f"{self.url}/healthz", timeout=2)[0] == 200 and (self.data / "admin.token").exists()
        except OSError:  # not listening yet
            return False

    def controllers(self) -> list[dict[str, Any]]:
        try:
            code, body = http_get(f"{self.url}/v1/controllers", self.token)
        except OSError:
            return []
        return body["items"] if code == 200 else []


async def stream_leader(cluster: Cluster) -> int | None:
    """Index of the node leading the BOSUN stream (node i is named bosun-i)."""
    nc = await corelog.connect(cluster.url(), "test-leader")
    try:
        info = await corelog.Log(nc).jsm.stream_info("BOSUN")
        leader = info.cluster.leader if info.cluster else None
        return int(leader.rsplit("-", 1)[1]) if leader else None
    finally:
        await nc.close()


async def replicas_current(cluster: Cluster) -> bool:
    """Every replica of the BOSUN stream has caught up with its leader."""
    nc = await corelog.connect(cluster.url(), "test-current")
    try:
        info = await corelog.Log(nc).jsm.stream_info("BOSUN")
        peers = info.cluster.replicas or [] if info.cluster else []
        return len(peers) == 2 and all(p.current and not p.offline for p in peers)
    except Exception:  # noqa: BLE001 - a cluster still electing answers with errors of any kind
        return False
    finally:
        await nc.close()


async def consumers(cluster: Cluster) -> dict[str, Any]:
    """Per durable consumer of BOSUN: pending, ack floor, delivered, redelivered, leader (diagnostics)."""
    nc = await corelog.connect(cluster.url(), "test-consumers")
    try:
        infos = await corelog.Log(nc).jsm.consumers_info("BOSUN")
        return {i.name: {"pending": i.num_pending, "ack_pending": i.num_ack_pending,
                         "redelivered": i.num_redelivered, "waiting": i.num_waiting,
                         "ack_floor": i.ack_floor.stream_seq if i.ack_floor else None,
                         "delivered": i.delivered.stream_seq if i.delivered else None,
                         "leader": i.cluster.leader if i.cluster else None} for i in infos}
    except Exception as e:  # noqa: BLE001 - diagnostics only: say why they are missing
        return {"error": repr(e)}
    finally:
        await nc.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
