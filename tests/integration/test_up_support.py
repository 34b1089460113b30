"""Helpers for the `bosun up` tests: a real process tree in its own session, conditions polled with deadlines.

(No tests here; it lives beside them so the `test_up*` files share one way to start and stop Bosun.)
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
from pathlib import Path
from typing import Any, TypeVar

from bosun.client import local
from supervisor import procs

BOSUN = str(Path(sys.executable).parent / "bosun")
T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as e:  # files half-written, ports not yet open
            last = e
        if last:
            return last  # type: ignore[no-any-return]
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def http_get(url: str, token: str | None = None, timeout: float = 5) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            code, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read()
    try:
        return code, json.loads(body) if body else None
    except ValueError:
        return code, body.decode(errors="replace")


EVERY_REFUSAL = {"BOSUN_AUDIT_WINDOW": "0"}
"""For a module that looks for one refusal's own record among its tests' many (in random order): past the
third refusal of one principal and reason in a minute, the gateway stores only the minute's count."""


class Up:
    """`bosun up --data <dir> --http-port 0 --nats-port 0` in its own session, output to a log file."""

    def __init__(self, data: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.args = args
        self.env = env
        self.log = data.parent / f"{data.name}-up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: dict[str, str] = {}
        self.started_at = 0.0
        self.healthy_after = 0.0

    def start(self, timeout: float = 60) -> Up:
        conn = self.data / "connection.json"
        if conn.exists():  # a previous run's file must not pass for this run's
            conn.rename(conn.with_suffix(".json.old"))
        self.started_at = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [BOSUN, "up", "--data", str(self.data), "--http-port", "0", "--nats-port", "0", *self.args],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **self.env} if self.env else None)

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"bosun up exited with {self.proc.returncode}:\n{self.output()}")
            if not conn.exists():
                return False
            self.conn = json.loads(conn.read_text())
            return http_get(self.conn["http"] + "/healthz", timeout=2)[0] == 200

        wait_for(healthy, timeout, f"bosun up to become healthy; log:\n{self.output()}")
        self.healthy_after = time.monotonic() - self.started_at
        return self

    @property
    def url(self) -> str:
        return local(self.data)[0]

    @property
    def token(self) -> str:
        return local(self.data)[1] or ""

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pids(self) -> dict[str, int]:
        """Pids recorded under <data>/run/ (components, nats-server, the supervisor itself)."""
        found = {}
        for pidfile in (self.data / "run").glob("*.pid"):
            pid = procs.read_pidfile(pidfile.parent, pidfile.stem)
            if pid is not None:
                found[pidfile.stem] = pid
        return found

    def kill_top(self) -> None:
        """kill -9 of the `bosun up` process only: its children are left to fend for themselves."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int | None:
        """SIGTERM to the whole process group (as the acceptance harness does), then SIGKILL."""
        if self.proc is None:
            return None
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return code
