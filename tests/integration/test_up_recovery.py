"""`bosun up` after a crash: no orphans survive kill -9 of the supervisor, and a restart on the same data
dir cleans up whatever a crashed run left behind before it opens the JetStream store again."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core import natsserver
from supervisor import procs
from tests.integration.test_up_support import Up, http_get, wait_for


def test_kill_9_of_up_takes_the_children_along_and_a_restart_recovers(tmp_path: Path) -> None:
    first = Up(tmp_path / "data").start()
    try:
        children = {n: p for n, p in first.pids().items() if n != "up"}
        assert {"nats", "controller", "projector", "driver-sim", "gateway"} <= set(children)
        first.kill_top()
        wait_for(lambda: not [n for n, p in children.items() if procs.alive(p)], 30,
                 "every child of the killed supervisor to die")
    finally:
        first.stop()

    second = Up(tmp_path / "data").start()
    try:
        assert http_get(second.url + "/healthz")[0] == 200
        assert not set(second.pids().values()) & set(children.values())
    finally:
        second.stop()


def test_restart_kills_leftovers_recorded_in_pidfiles(tmp_path: Path) -> None:
    """Children that somehow outlived their supervisor (no death signal) are found and stopped."""
    data = (tmp_path / "data").resolve()
    run = data / "run"
    run.mkdir(parents=True)
    stray = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()", "--data", str(data)])
    unrelated = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
    procs.write_pidfile(run, "controller", stray.pid)
    procs.write_pidfile(run, "projector", unrelated.pid)  # a reused pid: not ours, must survive
    nats = natsserver.start(data)  # a leftover server on the very store `bosun up` will use
    try:
        up = Up(data).start()
        try:
            assert stray.wait(timeout=10) is not None
            assert nats.proc.wait(timeout=10) is not None
            assert unrelated.poll() is None
            assert http_get(up.url + "/healthz")[0] == 200
        finally:
            up.stop()
    finally:
        for p in (stray, unrelated):
            p.kill()
            p.wait()
        nats.stop()
