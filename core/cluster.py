"""A local JetStream cluster: N embedded nats-servers on loopback, routed to each other.

Why on one machine: so anyone can try node loss (`bosun up --cluster 3`, the cluster tests, `bosun bench`)
without Docker. Each node is an ordinary `core.natsserver` server (same users and permissions) with a
`cluster {}` block added; JetStream's own Raft elects the meta, stream and consumer leaders (no
home-made consensus). Streams, buckets and consumers are R3 when `BOSUN_STREAM_REPLICAS=3`.

Routes require the `route` user's password (`nats-credentials.json`): a nats-server nobody configured
cannot join through a route port and hear the cluster's traffic.
"""
from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog

from core import natscreds, natsserver
from core.ports import free_port as free_port  # route ports must be known before any node starts

CLUSTER_NAME = "bosun"
log = structlog.get_logger("bosun.cluster")


def cluster_block(port: int, routes: list[int], name: str = CLUSTER_NAME,
                  route: natscreds.UserPass | None = None) -> str:
    """The `cluster {}` part of one node's config: its route port and every node's route (itself included:
    nats-server ignores a route to itself, and one list serves every node); with `route`, routes in and
    out authenticate with that user."""
    auth = f"{quote(route.user, safe='')}:{quote(route.password, safe='')}@" if route else ""
    listed = ", ".join(f"nats-route://{auth}127.0.0.1:{p}" for p in routes)
    block = f'  authorization {{ user: "{route.user}", password: "{route.password}", timeout: 2 }}\n' if route else ""
    return (f"cluster {{\n  name: {name}\n  host: 127.0.0.1\n  port: {port}\n{block}"
            f"  routes: [{listed}]\n}}")


@dataclass
class Cluster:
    """The nodes of a local cluster; node `i` keeps its store under `workdir/node-<i>` across restarts."""

    workdir: Path
    size: int = 3
    creds: natscreds.Credentials | None = None
    sync: str = ""
    client_ports: list[int] = field(default_factory=list)
    route_ports: list[int] = field(default_factory=list)
    servers: list[natsserver.Server | None] = field(default_factory=list)
    preexec: Callable[[], Any] | None = None
    executable: str | None = None
    """Another nats-server binary (`BOSUN_NATS_SERVER`); default: `natsserver.binary()`'s."""
    picked: bool = False
    """The ports were picked by `allocate` for a new cluster (not given, not kept from an earlier run)."""

    def allocate(self) -> Cluster:
        """Pick the ports now: the seed list (`url`) is then known before any node runs."""
        if not self.route_ports:
            self.route_ports = [free_port() for _ in range(self.size)]
            self.client_ports = [free_port() for _ in range(self.size)]
            self.picked = True
        return self

    def start(self) -> Cluster:
        """Start every node. Ports picked here are free when picked, not when bound: another process may take
        one in between (it happened beside a loaded test run), so a fresh cluster picks others and tries again."""
        for attempt in range(3):
            self.allocate()
            self.servers = [None] * self.size
            try:
                for i in range(self.size):
                    self.start_node(i)
                return self
            except natsserver.PortTaken as e:
                self.stop()
                if not self.picked or attempt == 2:
                    raise
                log.warning("a port picked for the cluster was taken meanwhile; picking others", error=str(e))
                self.client_ports, self.route_ports = [], []
                for i in range(self.size):  # a fresh cluster has stored nothing yet
                    shutil.rmtree(self.workdir / f"node-{i}" / "nats", ignore_errors=True)
        return self

    def start_node(self, i: int) -> natsserver.Server:
        """Start (or restart after a kill) node `i` on its own ports and store."""
        server = natsserver.start(
            self.workdir / f"node-{i}", port=self.client_ports[i], creds=self.creds, name=f"bosun-{i}",
            cluster=cluster_block(self.route_ports[i], self.route_ports,
                                  route=self.creds.route if self.creds else None), sync=self.sync,
            preexec=self.preexec, executable=self.executable)
        self.servers[i] = server
        return server

    def kill(self, i: int) -> None:
        """kill -9 node `i` (a crash: no clean leave, no flush)."""
        server = self.servers[i]
        if server is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
        self.servers[i] = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """Every node's client URL, comma-separated: a seed list `core.log.connect` fails over across."""
        auth = f"{user}:{password}@" if user else ""
        return ",".join(f"nats://{auth}127.0.0.1:{p}" for p in self.client_ports)

    def stop(self) -> None:
        for server in self.servers:
            if server is not None:
                server.stop()
        self.servers = [None] * self.size


def start_local(data: Path, size: int, creds: natscreds.Credentials, sync: str,
                preexec: Callable[[], Any] | None, executable: str | None = None) -> Cluster:
    """`bosun up --cluster N`: nodes under `<data>/cluster/node-<i>`, their ports kept in
    `<data>/cluster/ports.json` so a restart of `bosun up` reuses each node's store and peers."""
    import json

    root = data / "cluster"
    root.mkdir(parents=True, exist_ok=True)
    ports = root / "ports.json"
    c = Cluster(root, size=size, creds=creds, sync=sync, preexec=preexec, executable=executable)
    if ports.exists():
        saved = json.loads(ports.read_text())
        if len(saved["client"]) == size:
            c.client_ports, c.route_ports = saved["client"], saved["route"]
    c.allocate()
    ports.write_text(json.dumps({"client": c.client_ports, "route": c.route_ports}))
    c.start()  # a fresh cluster may pick other ports: those are the ones kept
    ports.write_text(json.dumps({"client": c.client_ports, "route": c.route_ports}))
    log.info("nats cluster started", nodes=size, ports=c.client_ports)
    return c


def restart_dead(c: Cluster) -> None:
    """Restart any node that died (a kill -9 to try node loss): it rejoins and catches up."""
    for i, server in enumerate(c.servers):
        if server is None or server.proc.poll() is not None:
            log.warning("nats node exited; restarting", node=i)
            try:
                c.start_node(i)
            except RuntimeError as e:
                log.error("nats node restart failed", node=i, error=str(e))
