"""A real `bosun up` process tree for a benchmark run, on free ports and a temporary data dir."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

import httpx

from bosun.client import local


class Plane:
    def __init__(self, *args: str) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="bosun-bench-"))
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: dict[str, str] = {}
        self.log = self.data.parent / f"{self.data.name}.log"
        """The process tree's stderr: removed after a clean run, kept (and named on stderr) after a failure."""

    def __enter__(self) -> Self:
        bosun = str(Path(sys.executable).parent / "bosun")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([bosun, "up", "--data", str(self.data), "--http-port", "0", "--nats-port",
                                          "0", "--latency", "0", *self.args], stdout=subprocess.DEVNULL, stderr=log,
                                         start_new_session=True, env={**os.environ, "BOSUN_LOG_LEVEL": "WARNING"})
        deadline = time.monotonic() + 60
        conn = self.data / "connection.json"
        while time.monotonic() < deadline:
            if conn.exists():
                self.conn = json.loads(conn.read_text())
                try:
                    if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        error = RuntimeError("bosun up did not become healthy")
        self.__exit__(type(error), error, None)  # stop what did start
        raise error

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.data, ignore_errors=True)
        if exc and exc[0] is None:
            self.log.unlink(missing_ok=True)
        else:
            print(f"bench: the plane's log is kept in {self.log}", file=sys.stderr)

    @property
    def url(self) -> str:
        return local(self.data)[0]

    @property
    def token(self) -> str:
        return local(self.data)[1] or ""

    @property
    def client_nats(self) -> str:
        return self.conn["nats"]

    @property
    def internal_nats(self) -> str:
        """The bench user (`core.natsusers.BENCH`): its own ceiling stream and stream counts only."""
        return self.nats_as("bench")

    def nats_as(self, key: str) -> str:
        """The plane's NATS URL as component `key` (`<data>/nats-credentials.json`)."""
        from core import natscreds

        creds = natscreds.Credentials.load(self.data / "nats-credentials.json")
        return natscreds.with_user(self.conn["nats"], creds.of(key))
