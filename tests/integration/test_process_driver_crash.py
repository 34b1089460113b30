"""kill -9 of the `bosun driver process` OS process, with replicas dying and strangers appearing meanwhile:
the restarted driver adopts what still runs, replaces what died, stops what it never started."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import actors  # noqa: F401
from actors import host as controller
from core.log import Log
from core.names import Ref
from dataplane.process import procs, store
from gateway.supervisor import bosun_command
from tests.conftest import eventually
from tests.integration.test_controller import Running, apply, ready
from tests.integration.test_process_driver import POOL, dep_spec, pool_spec
from tests.processes import end_all, running


class DriverProcess:
    """`bosun driver process` as a real OS process in its own process group."""

    def __init__(self, nats_url: str, data_dir: Path) -> None:
        self.args = [*bosun_command(), "driver", "process", "--nats", nats_url, "--data", str(data_dir),
                     "--relist-interval", "0.3"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     start_new_session=True)

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def end(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill9()


@pytest.fixture
def driver_process(nats_url: str, tmp_path: Path) -> Iterator[DriverProcess]:
    d = DriverProcess(nats_url, tmp_path)
    try:
        yield d
    finally:
        d.end()
        end_all(tmp_path)


@pytest.fixture
async def host(nats_url: str) -> AsyncIterator[Running]:
    r = Running()
    r.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    yield r
    await r.stop_all()


def stranger(data_dir: Path) -> subprocess.Popen[bytes]:
    """A process carrying this driver's marker that no record knows (e.g. left by a lost state file)."""
    env = {procs.MARK_DRIVER: str(store.home(data_dir)), procs.MARK_RECORD: "modeldeployment.x.y/ghost/1",
           "BOSUN_REPLICA": "ghost"}
    return subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"], env=env,
                            start_new_session=True)


async def test_driver_kill9_and_restart_leaves_exactly_the_right_processes(
        host: Running, driver_process: DriverProcess, log: Log, tmp_path: Path) -> None:
    dep = Ref("modeldeployment", "team-a", "chat")
    driver_process.start()
    await apply(log, POOL, pool_spec(4), 1)
    await apply(log, dep, dep_spec(3), 1)
    await eventually(lambda: ready(log, dep, 1, 3), timeout=30)
    before = running(tmp_path)
    assert set(before) == {"chat-1", "chat-2", "chat-3"}

    driver_process.kill9()
    assert running(tmp_path) == before  # replicas outlive their driver, like containers a kubelet restart
    os.kill(int(before["chat-2"]["pid"]), signal.SIGKILL)
    ghost = stranger(tmp_path)
    driver_process.start()

    async def repaired() -> bool:
        now = running(tmp_path)  # raises if any replica id runs twice
        return set(now) == {"chat-1", "chat-3", "chat-4"} and await ready(log, dep, 1, 3)

    await eventually(repaired, timeout=30)
    after = running(tmp_path)
    assert after["chat-1"]["pid"] == before["chat-1"]["pid"] and after["chat-3"]["pid"] == before["chat-3"]["pid"]
    assert ghost.wait(timeout=10) == -signal.SIGKILL
    assert len({e["CUDA_VISIBLE_DEVICES"] for e in after.values()}) == 3
