"""Helpers for the node tests: join files and `bosun agent` processes standing for machines (no tests here)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from dataplane.process import procs, store
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for


def join(up: Up, name: str, where: Path) -> Path:
    """`bosun node join NAME -o FILE` as the admin; the join file's path."""
    path = where / f"join-{name}.json"
    done = subprocess.run([BOSUN, "--data", str(up.data), "node", "join", name, "-o", str(path)],
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
