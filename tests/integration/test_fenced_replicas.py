"""Issue #23 on real replica processes: the probe that read the admin token and the driver's environment, a
replica reporting an infinite load, and a namespace placing on a pool that does not admit it.

The process driver runs in this (root, in CI) test process, as `bosun up` runs it; its replicas are real
processes. Every test's finaliser ends every replica it caused.
"""
from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actors import serving as controller
from core import subjects
from core.log import Log
from core.names import Ref
from core.replicas import LoadObserved, ReplicaStartFailed
from dataplane.process import driver as process_driver
from tests.conftest import REGISTRY, eventually
from tests.integration.test_controller import Running, apply, ready, status
from tests.integration.test_process_driver import events
from tests.processes import end_all, server_command

POOL = Ref("gpupool", "infra", "local")
ROOT = os.geteuid() == 0


def pool_spec(devices: int = 4, **extra: Any) -> dict[str, Any]:
    return {"region": "local", "gpu": "any", "driver": "process", "devices": [str(i) for i in range(devices)],
            **extra}


def dep_spec(command: list[str], replicas: int = 1, **extra: Any) -> dict[str, Any]:
    return {"model": "tiny", "replicas": replicas, "placement": {"region": "local", "gpu": "any"},
            "command": command, "startupSeconds": 0.3, "terminationGracePeriodSeconds": 1, **extra}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
async def plane(nats_url: str, data: Path) -> AsyncIterator[Running]:
    running = Running()
    running.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    running.start("process", lambda stop: process_driver.serve(nats_url, data, stop=stop, relist_interval=0.3,
                                                                load_interval=0.3))
    try:
        yield running
    finally:
        await running.stop_all()
        end_all(data)


@pytest.mark.skipif(not ROOT, reason="replicas drop to their own uid only when the driver runs as root")
async def test_a_replica_runs_as_its_own_user_in_its_own_directory_and_reads_no_secret(
        plane: Running, log: Log, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker's probe: the admin token's first bytes and the driver's environment (a NATS password),
    read by a replica and echoed into its own deployment's status."""
    token = data / "admin.token"
    fd = os.open(token, os.O_WRONLY | os.O_CREAT, 0o600)
    secret = secrets.token_urlsafe(32)
    os.write(fd, secret.encode() + b"\n")
    os.close(fd)
    password = secrets.token_hex(12)
    monkeypatch.setenv("BOSUN_NATS_URL", f"nats://bosun:{password}@127.0.0.1:4222")
    probe = ("echo uid=$(id -u) gid=$(id -g) groups=$(id -G); echo cwd=$(pwd); echo home=$HOME; "
             "echo cwdmode=$(stat -c %a:%u .); "
             f"echo ENV:$(tr '\\0' ' ' < /proc/$PPID/environ); echo ALL:$(cat {data}/nats-credentials.json); "
             f"echo LEAK:$(head -c 6 {token}); exit 3")
    dep = Ref("modeldeployment", "infra", "probe")
    await apply(log, POOL, pool_spec(2), 1)
    await apply(log, dep, dep_spec(["sh", "-c", probe]), 1)

    async def failed() -> list[ReplicaStartFailed]:
        return [e for e in await events(log, dep, subjects.obs(dep)) if isinstance(e, ReplicaStartFailed)]

    first = (await eventually(failed))[0]
    text = (data / "process" / "logs" / "infra" / "probe" / "probe-1.log").read_text()
    assert "LEAK:" in first.reason and secret[:6] not in first.reason
    assert secret[:6] not in text and password not in text, text
    st = await status(log, dep)
    assert st is None or secret[:6] not in str(st)
    fields = dict(word.split("=", 1) for word in text.split() if "=" in word)
    assert fields["uid"] != "0" and fields["gid"] != "0", text
    assert fields["groups"] == fields["gid"], text  # no supplementary group (root's 0 least of all)
    cwd = Path(fields["cwd"])
    assert cwd != Path.cwd() and data.resolve() not in cwd.parents, text
    assert fields["cwdmode"] == f"700:{fields['uid']}" and fields["home"] == str(cwd), text
    assert not cwd.exists()  # a replica's directory goes with it


@pytest.mark.skipif(not ROOT, reason="replicas drop to their own uid only when the driver runs as root")
async def test_each_namespace_gets_its_own_user(plane: Running, log: Log, data: Path) -> None:
    await apply(log, POOL, pool_spec(4, namespaces=["team-a", "team-b"]), 1)
    whoami = ["sh", "-c", "echo uid=$(id -u); exec sleep 60"]
    uids = {}
    for ns in ("team-a", "team-b"):
        dep = Ref("modeldeployment", ns, "who")
        await apply(log, dep, dep_spec(whoami), 1)
        await eventually(lambda d=dep: ready(log, d, 1, 1))
        log_file = data / "process" / "logs" / ns / "who" / "who-1.log"
        uids[ns] = (await eventually(lambda f=log_file: asyncio.sleep(0, f.exists() and f.read_text()))).strip()
    assert uids["team-a"] != uids["team-b"] and "uid=0" not in uids.values(), uids


async def test_an_infinite_load_leaves_the_driver_serving_everyone_else(plane: Running, log: Log,
                                                                       data: Path) -> None:
    """A replica whose `/load` answers `inf` used to make the driver store `{"rps": null}` in its outbox, fail
    to decode it and exit, over and over: nobody's replicas were actuated any more."""
    await apply(log, POOL, pool_spec(4), 1)
    bad = Ref("modeldeployment", "infra", "infinite")
    await apply(log, bad, dep_spec(server_command(), env={"LOAD_RPS": "inf"},
                                   readiness={"httpGet": {"path": "/healthz"}, "periodSeconds": 0.2},
                                   autoscaling={"min": 1, "max": 2}), 1)
    await eventually(lambda: ready(log, bad, 1, 1))


    async def measured() -> bool:  # the meter read its `inf` and stored what it made of it: the attack's chance
        return any(isinstance(e, LoadObserved) and e.replicas == 1 for e in await events(log, bad, subjects.obs(bad)))

    await eventually(measured)
    task, _ = plane.tasks["process"]
    assert not task.done(), task
    good = Ref("modeldeployment", "infra", "good")
    await apply(log, good, dep_spec(server_command(), readiness={"httpGet": {"path": "/healthz"},
                                                                 "periodSeconds": 0.2}), 1)
    await eventually(lambda: ready(log, good, 1, 1))
    assert not task.done()


async def test_a_namespace_a_pool_does_not_admit_cannot_place_there(plane: Running, log: Log) -> None:
    await apply(log, POOL, pool_spec(2), 1)  # lists no namespace: only infra's own deployments
    await eventually(lambda: ready(log, POOL, 1))
    dep = Ref("modeldeployment", "team-a", "outsider")
    await apply(log, dep, dep_spec(server_command(), readiness={"httpGet": {"path": "/healthz"},
                                                                "periodSeconds": 0.2}), 1)

    async def refused() -> Any:
        st = await status(log, dep)
        return st if st is not None and st.phase == "Pending" else None

    st = await eventually(refused)
    why = next(c for c in st.conditions if c.type == "Scheduled")
    assert why.status == "False" and "does not admit namespace team-a" in why.message, why
    starts = [m async for m in log.read(subjects.cmd("process", dep))]
    assert starts == []
    await apply(log, POOL, pool_spec(2, namespaces=["team-a"]), 2)
    await eventually(lambda: ready(log, dep, 1, 1))


async def test_a_resource_whose_stored_spec_never_decoded_can_still_be_deleted(nats_url: str, log: Log) -> None:
    """A spec stored before the fix (`targetLoadPerReplica: .inf` became `null`) is skipped by evolve; deleting
    that resource used to leave it Deleting forever (nothing decided, no finalizer removed)."""
    from core.events import DeletionRequested, SpecApplied

    running = Running()
    running.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    try:
        for ref, spec in ((Ref("modeldeployment", "team-a", "poisoned"),
                           {"model": "m", "replicas": 1, "placement": {"region": "r", "gpu": "g"},
                            "autoscaling": {"min": 1, "max": 2, "targetLoadPerReplica": None}}),
                          (Ref("gpupool", "infra", "poisoned"),
                           {"region": "r", "gpu": "g", "capacity": 1, "pricePerGpuHour": None})):
            created = await log.append(subjects.spec(ref), SpecApplied(generation=1, spec=spec, created=True))
            await log.append(subjects.spec(ref), DeletionRequested(generation=1),
                             expected_last_subject_seq=created.seq)

            async def finalized(r: Ref = ref) -> bool:
                info = REGISTRY.kind(r.kind)
                types = [m.headers.get("Bosun-Type") async for m in log.read(subjects.ctl(r, info.controller or ""))]
                return "finalizer.removed" in types

            await eventually(finalized)
    finally:
        await running.stop_all()
