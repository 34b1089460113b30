"""A `bosun up` process tree to torment: start it, find its components, kill -9 one, see it come back.

Why the component list is read from `<data>/run/*.pid` rather than hard-coded: the supervisor writes a
pidfile for every child it starts (nats-server included), so components added later (the process
driver, per-kind controllers, more nats nodes) become killable without touching this module. Options
that only some versions of `bosun up` have (`--sync`, `--cluster`) are passed only when `--help` lists them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos import nodes

SUPERVISOR = "up"
"""The supervisor's own pidfile: killing it is the whole-tree crash, not a component round."""


def bosun() -> list[str]:
    script = Path(sys.executable).parent / "bosun"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())"]


def up_supports(flag: str) -> bool:
    """Does this `bosun up` have `flag` (e.g. `--sync`, `--cluster`)?"""
    out = subprocess.run([*bosun(), "up", "--help"], capture_output=True, text=True, timeout=60)
    return flag in out.stdout


def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as e:
            last = e
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Tree:
    """`bosun up --data D --http-port 0 --nats-port 0 [extra]` in its own session."""

    data: Path
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    conn: dict[str, str] = field(default_factory=dict)
    token: str = ""

    @property
    def url(self) -> str:
        return self.conn["http"]

    @property
    def nats(self) -> str:
        return self.conn["nats"]

    def start(self, timeout: float = 90) -> Tree:
        self.data.mkdir(parents=True, exist_ok=True)
        conn = self.data / "connection.json"
        conn.unlink(missing_ok=True)
        with open(self.data.parent / f"{self.data.name}-up.log", "ab") as out:
            self.proc = subprocess.Popen(
                [*bosun(), "up", "--data", str(self.data), "--http-port", "0", "--nats-port", "0", *self.extra],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"bosun up exited with {self.proc.returncode}")
            if not conn.exists():
                return False
            self.conn = json.loads(conn.read_text())
            return self.healthy()

        wait_until(ready, timeout, "bosun up to become healthy")
        if "--no-node" not in self.extra:  # its own node's agent starts once joined: a component from round one
            wait_until(lambda: (self.data / "run" / "agent.pid").exists(), timeout, "the local node's agent")
        self.token = Path(self.conn["tokenFile"]).read_text().strip()
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def pids(self) -> dict[str, int]:
        """Every component the supervisor recorded, by pidfile name (the supervisor itself excluded), and
        each nats-server node of a `--cluster N` tree as `nats-<i>` (their pidfiles live in the node's dir)."""
        found: dict[str, int] = nodes.node_pids(self.data)
        for pidfile in sorted((self.data / "run").glob("*.pid")):
            if pidfile.stem == SUPERVISOR:
                continue
            try:
                found[pidfile.stem] = int(pidfile.read_text().strip())
            except (OSError, ValueError):
                continue
        return found

    def kill(self, component: str, timeout: float = 60) -> float:
        """kill -9 `component`, wait until the supervisor restarted it and the gateway answers; seconds."""
        old = self.pids()[component]
        t0 = time.monotonic()
        try:
            os.kill(old, signal.SIGKILL)
        except ProcessLookupError:
            pass

        def back() -> bool:
            pid = self.pids().get(component)
            return pid is not None and pid != old and alive(pid) and self.healthy()

        wait_until(back, timeout, f"{component} to be restarted")
        return time.monotonic() - t0

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL whatever is left after 30 s."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
