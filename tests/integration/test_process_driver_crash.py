"""kill -9 of the `bosun driver process` OS process, with replicas dying and strangers appearing meanwhile:
the restarted driver adopts what still runs, replaces what died, stops what it never started."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from actors import serving as controller
from core import ports
from core.log import Log
from core.names import Ref
from dataplane.process import fence, procs, store
from supervisor.launch import bosun_command
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


async def test_a_replica_spawned_just_before_a_crash_is_adopted_not_started_twice(log: Log, tmp_path: Path) -> None:
    """The crash window between spawning and recording the pid: the marker finds the process."""
    from core.replicas import EnsureDevices, Launch, StartProcess
    from dataplane.process.driver import Driver
    from dataplane.process.world import World

    world = World(store.connect(tmp_path))
    ref = Ref("modeldeployment", "team-a", "chat")
    world.ensure_pool(POOL, EnsureDevices(region="local", gpu="any", capacity=2, generation=1, devices=("0", "1")), 0)
    launch = Launch(command=(sys.executable, "-c", "import signal; signal.pause()"))
    assert world.admit(ref, StartProcess(replica="chat-1", pool="infra/local", gpus=1, model="m", generation=1,
                                         launch=launch), 0) == "admitted"
    (rec,) = world.records()
    rec = world.begin_spawn(rec, ports.free_port())
    env = fence.environment({}, {procs.MARK_DRIVER: str(store.home(tmp_path)),
                                 procs.MARK_RECORD: f"{ref.token}/chat-1/{rec.spawned}", "BOSUN_REPLICA": "chat-1"},
                            tmp_path)
    child = procs.spawn(list(launch.command), env, tmp_path / "chat-1.log", tmp_path)  # ... and the driver dies here
    try:
        # a restarted driver comes long after the child's exec; until then /proc shows the forking parent's environment
        await eventually(lambda: asyncio.sleep(0, bool(list(procs.scan(str(store.home(tmp_path)))))))
        Driver(world, log, tmp_path, relist_interval=1.0, load_interval=1.0).recover(1.0)
        (adopted,) = world.records()
        assert adopted.state == "starting" and adopted.identity == procs.identity(child.pid)
        assert set(running(tmp_path)) == {"chat-1"}
    finally:
        world.conn.close()
        end_all(tmp_path)
        child.wait(timeout=10)
