"""The process driver against real nats-server, the real controller host and real OS processes.

Replicas are found by their own environment (`BOSUN_REPLICA`), asked over HTTP on their `BOSUN_PORT`,
killed with SIGKILL behind Bosun's back; every test's finaliser ends every replica process it caused.
"""
from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from actors import serving as controller
from cli.main import main
from core import codec, subjects
from core.events import DeletionRequested, Event
from core.log import Log
from core.names import Ref
from core.replicas import ReplicaLost, ReplicaStartFailed, StartReplica
from dataplane.process import driver as process_driver
from tests.conftest import REGISTRY, eventually
from tests.integration.test_controller import Running, apply, ready, status
from tests.processes import PYTHON, end_all, running, server_command, shared_dir, write_shared

POOL = Ref("gpupool", "infra", "local")


def pool_spec(devices: int = 4) -> dict[str, Any]:
    return {"region": "local", "gpu": "any", "driver": "process", "devices": [str(i) for i in range(devices)],
            "namespaces": ["team-a"]}


def dep_spec(replicas: int, command: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"model": "tiny", "replicas": replicas, "placement": {"region": "local", "gpu": "any"},
            "command": command or server_command(), "readiness": {"httpGet": {"path": "/healthz"},
                                                                 "periodSeconds": 0.2, "failureThreshold": 2},
            "terminationGracePeriodSeconds": 2, **extra}


@pytest.fixture
async def plane(nats_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    running_ = Running()
    running_.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    running_.start("process", lambda stop: process_driver.serve(nats_url, tmp_path, stop=stop, relist_interval=0.3,
                                                                 load_interval=0.3))
    try:
        yield running_
    finally:
        await running_.stop_all()
        end_all(tmp_path)


@pytest.fixture
def shared() -> Iterator[Path]:
    folder = shared_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def events(log: Log, ref: Ref, subject: str) -> list[Event]:
    info = REGISTRY.kind(ref.kind)
    return [codec.decode(info, m.data, m.headers) async for m in log.read(subject)]


async def answers(env: dict[str, str]) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"http://127.0.0.1:{env['BOSUN_PORT']}/")
        return str(r.json()["replica"])


async def test_replicas_run_get_devices_are_replaced_scaled_and_deleted(plane: Running, log: Log,
                                                                        tmp_path: Path) -> None:
    dep = Ref("modeldeployment", "team-a", "chat")
    await apply(log, POOL, pool_spec(4), 1)
    await apply(log, dep, dep_spec(3), 1)
    await eventually(lambda: ready(log, dep, 1, 3))
    live = running(tmp_path)
    assert set(live) == {"chat-1", "chat-2", "chat-3"}
    assert sorted(e["CUDA_VISIBLE_DEVICES"] for e in live.values()) == ["0", "1", "2"]
    assert {e["BOSUN_MODEL"] for e in live.values()} == {"tiny"}
    assert [await answers(live[r]) for r in sorted(live)] == ["chat-1", "chat-2", "chat-3"]
    assert "NATS" not in " ".join(live["chat-1"])  # replicas never see the driver's credentials
    out = CliRunner().invoke(main, ["--data", str(tmp_path), "logs", "md/chat", "-n", "team-a"])
    assert out.exit_code == 0, out.output
    assert [line.split(" on port")[0] for line in out.output.splitlines()] == [
        f"[chat-{i}] chat-{i} serving tiny" for i in (1, 2, 3)]
    one = CliRunner().invoke(main, ["--data", str(tmp_path), "logs", "md/chat", "-n", "team-a", "--replica", "chat-2"])
    assert one.output.startswith("chat-2 serving tiny on port ")

    os.kill(int(live["chat-2"]["pid"]), signal.SIGKILL)

    async def replaced() -> bool:
        now = running(tmp_path)
        return "chat-2" not in now and len(now) == 3 and await ready(log, dep, 1, 3)

    await eventually(replaced)
    lost = [e for e in await events(log, dep, subjects.obs(dep)) if isinstance(e, ReplicaLost)]
    assert [(e.replica, e.reason) for e in lost] == [("chat-2", "killed by SIGKILL")]
    now = running(tmp_path)
    assert len({e["CUDA_VISIBLE_DEVICES"] for e in now.values()}) == 3  # never shared by two live replicas

    await apply(log, dep, dep_spec(1), 2)
    await eventually(lambda: ready(log, dep, 2, 1))
    await eventually(lambda: asyncio.sleep(0, len(running(tmp_path)) == 1))

    last = await log.last(subjects.spec(dep))
    assert last is not None
    await log.append(subjects.spec(dep), DeletionRequested(generation=2), expected_last_subject_seq=last.seq)
    await eventually(lambda: asyncio.sleep(0, running(tmp_path) == {}))

    async def finalized() -> bool:
        done = await log.last(subjects.ctl(dep, "deployments"))
        return done is not None and done.headers.get("Bosun-Type") == "finalizer.removed"

    await eventually(finalized)


async def test_bad_command_is_reported_and_retried_with_backoff(plane: Running, log: Log, tmp_path: Path) -> None:
    missing = Ref("modeldeployment", "team-a", "missing")
    crashing = Ref("modeldeployment", "team-a", "crashing")
    await apply(log, POOL, pool_spec(4), 1)
    await apply(log, missing, dep_spec(1, ["/nonexistent/model-server"]), 1)
    await apply(log, crashing, dep_spec(1, [PYTHON, "-c", "print('weights not found'); exit(3)"]), 1)

    async def failing(ref: Ref, text: str) -> bool:
        st = await status(log, ref)
        return bool(st and st.phase != "Ready" and any(
            c.type == "ReplicaFailure" and text in c.message for c in st.conditions))

    await eventually(lambda: failing(missing, "No such file or directory"))
    await eventually(lambda: failing(crashing, "exited with code 3: weights not found"))

    async def retried(ref: Ref) -> list[ReplicaStartFailed]:
        fails = [e for e in await events(log, ref, subjects.obs(ref)) if isinstance(e, ReplicaStartFailed)]
        return fails if len(fails) >= 3 else []

    for ref in (missing, crashing):
        fails = await eventually(functools.partial(retried, ref))
        assert [f.retry_in for f in fails[:3]] == [1.0, 2.0, 4.0]  # capped exponential, never a hot loop
        assert {f.replica for f in fails} == {f"{ref.name}-1"}  # retried in place: no new replica ids
        starts = [e for e in await events(log, ref, subjects.cmd("process", ref)) if isinstance(e, StartReplica)]
        assert [s.replica for s in starts] == [f"{ref.name}-1"]


async def test_readiness_failures_replace_the_replica(plane: Running, log: Log, tmp_path: Path, shared: Path) -> None:
    dep = Ref("modeldeployment", "team-a", "flaky")
    health = shared / "health"
    write_shared(health, "ok")
    await apply(log, POOL, pool_spec(2), 1)
    await apply(log, dep, dep_spec(1, env={"HEALTH_FILE": str(health)}), 1)
    await eventually(lambda: ready(log, dep, 1, 1))
    first = running(tmp_path)["flaky-1"]["pid"]
    write_shared(health, "fail")

    async def condemned() -> list[ReplicaLost]:
        return [e for e in await events(log, dep, subjects.obs(dep)) if isinstance(e, ReplicaLost)]

    lost = await eventually(condemned)
    assert lost[0].replica == "flaky-1" and "readiness probe GET /healthz failed" in lost[0].reason
    write_shared(health, "ok")

    async def back() -> bool:
        now = running(tmp_path)
        return set(now) == {"flaky-2"} and await ready(log, dep, 1, 1)

    await eventually(back)
    assert running(tmp_path)["flaky-2"]["pid"] != first


async def test_stop_escalates_to_sigkill_after_the_grace_period(plane: Running, log: Log, tmp_path: Path) -> None:
    dep = Ref("modeldeployment", "team-a", "stubborn")
    ignore_term = ("import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                   "print('ignoring SIGTERM', flush=True); signal.pause()")
    stubborn = [PYTHON, "-c", ignore_term]
    spec = {"model": "tiny", "replicas": 1, "placement": {"region": "local", "gpu": "any"}, "command": stubborn,
            "startupSeconds": 0.2, "terminationGracePeriodSeconds": 0.5}
    await apply(log, POOL, pool_spec(2), 1)
    await apply(log, dep, spec, 1)
    await eventually(lambda: ready(log, dep, 1, 1))
    assert set(running(tmp_path)) == {"stubborn-1"}
    await apply(log, dep, {**spec, "replicas": 0}, 2)
    await eventually(lambda: asyncio.sleep(0, running(tmp_path) == {}))
    await eventually(lambda: ready(log, dep, 2, 0))
    text = (tmp_path / "process" / "logs" / "team-a" / "stubborn" / "stubborn-1.log").read_text()
    assert "ignoring SIGTERM" in text


async def test_autoscaler_follows_the_load_replicas_report(plane: Running, log: Log, tmp_path: Path,
                                                          shared: Path) -> None:
    """Each replica answers its own load on GET /load; the driver sums them per deployment."""
    dep = Ref("modeldeployment", "team-a", "scaled")
    per_replica = shared / "load"
    write_shared(per_replica, "20")
    spec = dep_spec(1, env={"LOAD_FILE": str(per_replica)},
                    autoscaling={"min": 1, "max": 3, "targetLoadPerReplica": 50, "scaleDownStabilizationSeconds": 1})
    await apply(log, POOL, pool_spec(4), 1)
    await apply(log, dep, spec, 1)
    await eventually(lambda: ready(log, dep, 1, 1))
    write_shared(per_replica, "120")  # 120 rps on one replica: 3 wanted, then 360 over 3: limited at max 3

    async def limited() -> bool:
        st = await status(log, dep)
        return bool(st and st.phase == "Ready" and st.fields.get("readyReplicas") == 3 and any(
            c.type == "ScalingLimited" for c in st.conditions))

    await eventually(limited)
    assert set(running(tmp_path)) == {"scaled-1", "scaled-2", "scaled-3"}
    write_shared(per_replica, "0")

    async def back_to_min() -> bool:
        return len(running(tmp_path)) == 1 and await ready(log, dep, 1, 1)

    await eventually(back_to_min)
