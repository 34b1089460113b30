"""The projector against a real nats-server and real SQLite: live projection, queries, watch, bad input.

Also home of the helpers the recovery tests share (`running`, `story`, `dump`).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg

from actors.capacity import CapacityGranted, CapacityRequested
from actors.modeldeployment.events import ScaleUpStarted
from core import headers as H
from core import subjects
from core.events import Condition, DeletionRequested, FinalizerRemoved, SpecApplied, StatusUpdated
from core.log import Log, connect
from core.names import Ref
from core.replicas import ReplicaReady, StartReplica
from projections import generations, schema
from projections.projector import serve
from projections.readmodel import Change, ReadModel
from tests.conftest import eventually

DEP_FIN = "deployments.bosun.dev/replicas"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@contextlib.asynccontextmanager
async def running(nats_url: str, db_dir: Path) -> AsyncIterator[asyncio.Task[None]]:
    """The projector as a task; stopped (and awaited) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(nats_url, db_dir, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await task


async def story(log: Log, ns: str = "team-a", name: str = "chat", delete: bool = False) -> Ref:
    """A deployment's life: create, capacity request/grant, command, observation, status, update, delete."""
    dep, pool = Ref("modeldeployment", ns, name), Ref("gpupool", "infra", "a100")
    if (await log.last(subjects.spec(pool))) is None:
        await log.append(subjects.spec(pool), SpecApplied(generation=1, spec={"region": "r", "gpu": "a100",
                                                                               "capacity": 8}, created=True),
                         extra={H.PRINCIPAL: "admin"})
    await log.append(subjects.spec(dep), SpecApplied(generation=1, spec={"model": "m", "replicas": 1},
                                                      labels={"app": name}, created=True),
                     extra={H.PRINCIPAL: "alice", H.TRACEPARENT: f"00-{TRACE}-00f067aa0ba902b7-01"})
    ctl = subjects.ctl(dep, "deployments")
    progressing = StatusUpdated(observed_generation=1, phase="Progressing", conditions=(
        Condition(type="Ready", status="False", reason="ScalingUp"),), fields={"readyReplicas": 0})
    first = await log.append(ctl, progressing)
    await log.append(ctl, ScaleUpStarted(from_replicas=0, to_replicas=1))
    await log.append(subjects.inbox(pool), CapacityRequested(request_id=1, requester=dep.token,
                                                             pool="infra/a100", gpus=1),
                     extra={H.SENDER: dep.token, H.CAUSES: str(first.seq)})
    await log.append(subjects.ctl(pool, "pools"), CapacityGranted(request_id=1, requester=dep.token,
                                                                  pool="infra/a100", gpus=1),
                     extra={H.NOTIFY: dep.token})
    await log.append(subjects.cmd("sim", dep), StartReplica(replica=f"{name}-1", pool="infra/a100", gpus=1,
                                                            model="m", generation=1), extra={H.SENDER: dep.token})
    await log.append(subjects.obs(dep), ReplicaReady(replica=f"{name}-1", pool="infra/a100"))
    await log.append(ctl, StatusUpdated(observed_generation=1, phase="Ready", conditions=(
        Condition(type="Ready", status="True", reason="Converged"),), fields={"readyReplicas": 1}))
    if delete:
        await log.append(subjects.spec(dep), DeletionRequested(generation=2), extra={H.PRINCIPAL: "alice"})
        await log.append(ctl, FinalizerRemoved(finalizer=DEP_FIN, generation=2))
    return dep


def dump(db_dir: Path, generation: int | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a generation (the live one by default), in a stable order."""
    number = generation if generation is not None else generations.current(db_dir)
    assert number is not None
    db = sqlite3.connect(generations.path(db_dir, number))
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in schema.TABLES}
    finally:
        db.close()


async def test_projects_objects_and_timelines(log: Log, nats_url: str, tmp_path: Path) -> None:
    dep = await story(log)
    reads = await ReadModel.open(tmp_path, log.nc)
    try:
        async with running(nats_url, tmp_path):
            assert await reads.wait_for(await log.last_seq(), 20)
            obj = await reads.get("ModelDeployment", "team-a", "chat")
            assert obj is not None
            assert obj["status"]["phase"] == "Ready" and obj["status"]["readyReplicas"] == 1
            assert obj["status"]["conditions"][0]["lastTransitionSeq"] == await log.last_seq()
            assert obj["metadata"]["resourceVersion"] == (await log.last(subjects.spec(dep))).seq  # type: ignore[union-attr]
            items, _ = await reads.history("md", "team-a", "chat")
            assert [i["slice"] for i in items] == ["spec", "ctl.deployments", "ctl.deployments", "cmd", "obs",
                                                   "ctl.deployments"]
            assert items[0]["principal"] == "alice" and items[0]["traceId"] == TRACE
            assert items[3]["controller"] == dep.token and items[3]["type"] == "replica.start"
            pool_items, _ = await reads.history("gpupool", "infra", "a100")
            inbox = next(i for i in pool_items if i["slice"] == "inbox")
            assert inbox["causes"] == [items[1]["seq"]] and inbox["controller"] == dep.token
            assert [i["type"] for i in pool_items][-1] == "capacity.granted"  # notified, not copied
            assert [o["metadata"]["name"] for o in (await reads.list("md", None, "app=chat"))[0]] == ["chat"]
    finally:
        await reads.close()


async def test_deletion_watch_and_recreation(log: Log, nats_url: str, tmp_path: Path) -> None:
    await story(log)
    reads = await ReadModel.open(tmp_path, log.nc)
    try:
        async with running(nats_url, tmp_path):
            assert await reads.wait_for(await log.last_seq(), 20)
            since = await reads.checkpoint()
            seen: list[Change] = []

            async def watch() -> None:
                async with contextlib.aclosing(reads.watch(since, kind="md", heartbeat=0.2)) as changes:
                    async for change in changes:
                        if change is not None:
                            seen.append(change)
                            if change.type == "ADDED":
                                return

            watcher = asyncio.create_task(watch())
            await story(log, delete=True)  # same name: spec update, ..., deletion, finalizer removed
            ref = await story(log, name="chat")  # created=True again: a fresh incarnation
            await asyncio.wait_for(watcher, 20)
            assert [c.type for c in seen].count("DELETED") == 1
            deleted = next(c for c in seen if c.type == "DELETED").object
            assert deleted["metadata"]["deletionRequested"] is True
            assert seen[-1].type == "ADDED" and seen[-1].object["metadata"]["name"] == ref.name
            assert await reads.wait_for(await log.last_seq(), 20)
            items, _ = await reads.history("md", "team-a", "chat", limit=1000)
            assert "deletion.requested" in [i["type"] for i in items]  # timelines survive deletion
    finally:
        await reads.close()


async def test_bad_messages_do_not_wedge_the_projector(log: Log, nats_url: str, tmp_path: Path) -> None:
    await log.publish("bosun.ev.modeldeployment.team-a.broken.obs", b"{not json", {H.TYPE: "replica.ready"})
    await log.publish("bosun.ev.nosuchkind.team-a.x.spec", b"{}", {H.TYPE: "spec.applied"})
    await log.append("bosun.ev.modeldeployment.team-a.broken.ctl.deployments",
                     SpecApplied(generation=1, spec={}, created=True))  # wrong slice for intent
    await story(log)
    reads = await ReadModel.open(tmp_path, log.nc)
    try:
        async with running(nats_url, tmp_path):
            assert await reads.wait_for(await log.last_seq(), 20)
            broken, _ = await reads.history("md", "team-a", "broken")
            assert (broken[0]["type"], broken[0]["summary"]) == ("replica.ready", "undecodable")
            assert await reads.get("md", "team-a", "broken") is None
            unknown, _ = await reads.history("nosuchkind", "team-a", "x")
            assert unknown[0]["summary"] == "undecodable"
            assert await reads.get("md", "team-a", "chat") is not None
    finally:
        await reads.close()


async def test_commit_is_announced_on_core_nats(log: Log, nats_url: str, tmp_path: Path) -> None:
    nc = await connect(nats_url, "listener")
    try:
        announced: asyncio.Queue[bytes] = asyncio.Queue()

        async def on(msg: Msg) -> None:
            await announced.put(msg.data)

        await nc.subscribe("bosun.sys.projections.changed", cb=on)
        async with running(nats_url, tmp_path):
            await story(log)
            last = await log.last_seq()

            async def reached() -> bool:
                seq: int = json.loads(await asyncio.wait_for(announced.get(), 20))["seq"]
                return seq >= last

            await eventually(reached)
        assert len(dump(tmp_path)["timeline"]) == last
    finally:
        await nc.close()
