"""Issue #24: the cluster's route port is locked. A nats-server nobody configured, pointed at a route port
of `bosun up --cluster 3`'s nodes (`core.cluster.start_local`), joins nothing and hears nothing."""
from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from core import cluster, natscreds, natsserver
from tests.conftest import eventually
from tests.integration.nats_identity_support import no_message


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[cluster.Cluster, natscreds.Credentials]]:
    creds = natscreds.Credentials.load_or_create(tmp_path / "nats-credentials.json")
    c = cluster.start_local(tmp_path, 3, creds, "", None)
    yield c, creds
    c.stop()


def rogue(tmp_path: Path, route_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """A plain nats-server whose only route is one of the cluster's route ports (no credentials)."""
    client_port, own_route = cluster.free_port(), cluster.free_port()
    conf = tmp_path / "rogue.conf"
    conf.write_text(f"server_name: rogue\nhost: 127.0.0.1\nport: {client_port}\n"
                    f"cluster {{ name: {cluster.CLUSTER_NAME}, host: 127.0.0.1, port: {own_route},"
                    f" routes: [nats-route://127.0.0.1:{route_port}] }}\n")
    log = open(tmp_path / "rogue.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([natsserver.binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, client_port


async def test_a_rogue_server_on_the_route_port_hears_nothing(
        nodes: tuple[cluster.Cluster, natscreds.Credentials], tmp_path: Path) -> None:
    c, creds = nodes
    proc, port = rogue(tmp_path, c.route_ports[0])
    try:
        listener = await _connect(f"nats://127.0.0.1:{port}")
        try:
            everything = await listener.subscribe(">")
            await listener.flush()
            rogue_log = tmp_path / "rogue.log"  # its route attempt, unprompted, is refused: it has tried
            await eventually(lambda: asyncio.sleep(0, "authorization" in rogue_log.read_text().lower()))
            gw = await nats.connect(natscreds.with_user(c.url(), creds.of("gateway")).split(","),
                                    inbox_prefix="_INBOX_gateway")
            try:
                for i in range(5):
                    await gw.publish(f"bosun.audit.probe{i}", b"{}")
                    await gw.jsm(timeout=30).account_info()  # a fresh cluster elects its meta leader first
                await gw.flush()
            finally:
                await gw.close()
            assert await no_message(everything, 2)
        finally:
            await listener.close()
        assert "authorization" in (tmp_path / "rogue.log").read_text().lower()
    finally:
        proc.terminate()
        proc.wait(10)


async def _connect(url: str) -> nats.NATS:
    for _ in range(100):
        try:
            return await nats.connect(url, max_reconnect_attempts=0, connect_timeout=1)
        except (nats.errors.NoServersError, OSError):
            await asyncio.sleep(0.05)
    raise AssertionError(f"the rogue server never listened on {url}")


def test_a_picked_port_taken_before_its_node_starts_is_picked_again(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Ports are picked free, then bound by the nodes one after another: another process can take one in
    between (it happened beside a loaded test run: `bosun up --cluster 3` exited). A fresh cluster picks
    others and starts."""
    real = cluster.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        picks = iter([port])
        monkeypatch.setattr(cluster, "free_port", lambda: next(picks, None) or real())
        creds = natscreds.Credentials.load_or_create(tmp_path / "nats-credentials.json")
        c = cluster.start_local(tmp_path, 3, creds, "", None)
        try:
            assert port not in c.route_ports + c.client_ports
            assert all(s is not None and s.proc.poll() is None for s in c.servers)
        finally:
            c.stop()
