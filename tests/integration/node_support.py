"""Helpers for the node tests: join files and `bosun agent` processes standing for machines (no tests here)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dataplane.process import procs, store
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for


def join(up: Up, name: str, where: Path, *args: str) -> Path:
    """`bosun node join NAME -o FILE [args]` as the admin; the join file's path."""
    path = where / f"join-{name}.json"
    done = subprocess.run([BOSUN, "--data", str(up.data), "node", "join", name, "-o", str(path), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert path.stat().st_mode & 0o077 == 0  # the node's secret: private to its owner
    return path


def token_of(join_file: Path) -> str:
    return str(json.loads(join_file.read_text())["token"])


class Agent:
    """`bosun agent` for one node, with its own data dir (a machine), in its own session."""

    def __init__(self, join_file: Path, node: str, data: Path, *args: str) -> None:
        self.node = node
        self.data = data
        self.log = data.parent / f"agent-{node}-{data.name}.log"
        data.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([BOSUN, "agent", "--join", str(join_file), "--node", node,
                                          "--data", str(data), *args], stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.proc.wait()


def fleet_pool(fleet: str, name: str = "") -> dict[str, Any]:
    """A pool made of the nodes labelled `fleet=<fleet>` (its region is the fleet's name)."""
    return {"kind": "GpuPool", "metadata": {"name": name or fleet, "namespace": "gpu"},
            "spec": {"region": fleet, "gpu": "any", "driver": "node", "nodeSelector": {"fleet": fleet}}}


def deployment(name: str, fleet: str, replicas: int, startup: float = 0.5, **placement: Any) -> dict[str, Any]:
    """A deployment of sleeping replicas on `fleet_pool(fleet)`."""
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": "gpu"},
            "spec": {"model": "m", "replicas": replicas, "command": ["/bin/sleep", "1000"], "startupSeconds": startup,
                     "placement": {"region": fleet, "gpu": "any", **placement}}}


def node(up: Up, name: str) -> dict[str, Any]:
    code, body = http_get(f"{up.url}/v1/namespaces/default/nodes/{name}", up.token)
    return body if code == 200 else {}


def wait_node(up: Up, name: str, phase: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        obj = node(up, name)
        status = obj.get("status") or {}
        ok = status.get("phase") == phase and all(status.get(k) == v for k, v in fields.items())
        return obj if ok else None

    found: dict[str, Any] = wait_for(matches, timeout, f"node {name} {phase} {fields}")
    return found


def replicas_of(agent: Agent) -> list[procs.Found]:
    """The replica processes an agent's runner started (its marker in their environment)."""
    return list(procs.scan(str(store.home(agent.data / "agent"))))


def end_agents(started: list[Agent]) -> None:
    """Stop every agent (a stopped one, SIGSTOPped by a partition test, is woken first), then kill the replicas
    they leave behind: replicas outlive their agent (a restart adopts them), so the test ends them."""
    for a in started:
        try:
            os.killpg(a.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        a.stop()
    for a in started:
        for found in replicas_of(a):
            procs.signal_group(found.identity, signal.SIGKILL)


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of the plane's NATS, in a thread (and event loop) of its own: a machine's
    network the test can cut while its agent process runs on. `cut()` drops every connection and closes each new
    one at once (the agent's client sees the network down and keeps trying); `restore()` lets them through again."""

    def __init__(self, target: str) -> None:
        where = urlsplit(target if "://" in target else f"nats://{target}")
        self.target = (where.hostname or "127.0.0.1", where.port or 4222)
        self.port = 0
        self.cut_off = False
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> Proxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._link, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        async def drop() -> None:
            self.cut_off = True
            for w in list(self._links):
                w.transport.abort()
        self._call(drop())

    def restore(self) -> None:
        async def through() -> None:
            self.cut_off = False
        self._call(through())

    def close(self) -> None:
        async def end() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._links):
                w.transport.abort()
        self._call(end())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._links -= {writer, up_writer}
            writer.transport.abort()
            up_writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side ends (then both are aborted by the caller)."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
