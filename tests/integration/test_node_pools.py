"""Issue #25: a pool made of nodes has its Ready, schedulable, matching nodes' GPUs and follows them; its ledger
places a deployment's replicas across the nodes (<= maxPerNode each, never one device twice, never on a cordoned
node), each start command going to its node's own subject (real `bosun up`, real agents as machines)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core import codec, natsusers, nodes
from core.feed import Delivery, Feed
from core.log import Log
from core.replicas import ReplicaLost, StartOnNode
from tests.integration.nats_identity_support import as_component, connected
from tests.integration.node_support import (
    Agent,
    deployment,
    fleet_pool,
    join,
    replicas_of,
    token_of,
    wait_node,
)
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

NODE_TIMEOUT = 3


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = Path(tmp_path_factory.mktemp("nodepools"))
    running = Up(root / "data", "--node-timeout", str(NODE_TIMEOUT)).start()
    yield running
    running.stop()




def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def apply(up: Up, *manifests: dict[str, Any]) -> None:
    for m in manifests:
        done = subprocess.run([BOSUN, "--data", str(up.data), "apply", "-f", "-"], capture_output=True, text=True,
                              timeout=30, input=json.dumps(m))
        assert done.returncode == 0, done.stderr


def bosun(up: Up, *args: str) -> None:
    done = subprocess.run([BOSUN, "--data", str(up.data), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def status(up: Up, plural: str, name: str) -> dict[str, Any]:
    code, body = http_get(f"{up.url}/v1/namespaces/gpu/{plural}/{name}", up.token)
    return (body.get("status") or {}) if code == 200 else {}


def wait_capacity(up: Up, gpus: int) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        s = status(up, "gpupools", "fleet")
        return s if s.get("capacity") == gpus else None

    found: dict[str, Any] = wait_for(matches, 30, f"pool capacity {gpus}")  # type: ignore[arg-type]
    return found


async def node_starts(up: Up) -> list[tuple[str, StartOnNode]]:
    """Every start command on a node's subject (`bosun.cmd.node-<NAME>.…`), read as the controller."""
    async with as_component(up, "controller") as client:
        return [(m.subject, cmd) async for m in Log(client.nc).read("bosun.cmd.*.modeldeployment.gpu.chat")
                if isinstance(cmd := codec.decode_command(m.data, m.headers), StartOnNode)]


def test_a_node_pool_follows_its_nodes_and_spreads_replicas(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    for i, name in enumerate(("n1", "n2", "n3", "n4")):
        agents.append(Agent(join(up, name, tmp_path), name, tmp_path / name, "--gpus", "0,1,2",
                            "--labels", f"fleet=f1,zone=z{i % 2}"))
    agents.append(Agent(join(up, "other", tmp_path), "other", tmp_path / "other", "--gpus", "4",
                        "--labels", "fleet=f2"))
    for name in ("n1", "n2", "n3", "n4", "other"):
        wait_node(up, name, "Ready")
    apply(up, {"kind": "GpuPool", "metadata": {"name": "fleet", "namespace": "gpu"},
               "spec": {"region": "lab", "gpu": "any", "driver": "node", "nodeSelector": {"fleet": "f1"}}})
    assert wait_capacity(up, 12)["nodes"] == 4
    bosun(up, "cordon", "node/n4")  # a cordoned node lends no GPU to new replicas
    wait_capacity(up, 9)

    apply(up, {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "gpu"},
               "spec": {"model": "m", "replicas": 5, "command": ["/bin/sleep", "1000"],
                        "placement": {"region": "lab", "gpu": "any", "maxPerNode": 2}}})
    by_node = wait_for(lambda: (b := status(up, "modeldeployments", "chat").get("replicasByNode") or {})
                       and sum(b.values()) == 5 and b, 30, "5 replicas placed")
    assert max(by_node.values()) <= 2 and "n4" not in by_node and "other" not in by_node, by_node
    starts = asyncio.run(node_starts(up))
    assert len(starts) == 5
    devices = [(c.node, d) for _, c in starts for d in c.devices]
    assert len(devices) == len(set(devices)) == 5
    assert all(subject == f"bosun.cmd.{nodes.driver(c.node)}.modeldeployment.gpu.chat" for subject, c in starts)

    bosun(up, "uncordon", "node/n4")
    wait_capacity(up, 12)
    os.killpg(agents[2].proc.pid, signal.SIGKILL)  # n3's machine dies: NotReady, its GPUs leave the pool
    wait_node(up, "n3", "NotReady", timeout=NODE_TIMEOUT + 20)
    wait_capacity(up, 9)


async def test_a_node_pulls_only_its_own_commands(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    files = {name: join(up, name, tmp_path) for name in ("m1", "m2")}
    agents.append(Agent(files["m2"], "m2", tmp_path / "m2", "--gpus", "1", "--labels", "fleet=solo"))
    url = up.conn["nats"]
    async with connected(url, token=token_of(files["m1"]), inbox_prefix=natsusers.client_inbox("node-m1")) as m1:
        # the test is m1's agent, by hand: it joins and beats, and pulls its commands itself
        joined = nodes.NodeJoined(labels={"fleet": "solo"}, devices=(nodes.Device(id="0"),), epoch=1, at=time.time())
        reply = await m1.nc.request(nodes.report_subject("m1"), msgspec.json.encode(joined), timeout=10)
        assert "seq" in json.loads(reply.data)
        beats = asyncio.create_task(_beat(m1.nc, "m1"))
        try:
            await _placed_on_m1(up, m1)
        finally:
            beats.cancel()


async def _beat(nc: Any, node: str) -> None:
    while True:
        await nc.publish(nodes.beat_subject(node), msgspec.json.encode(nodes.Heartbeat(at=time.time(), epoch=1)))
        await asyncio.sleep(1.0)


async def _placed_on_m1(up: Up, m1: Any) -> None:
    for name in ("m1", "m2"):
        await asyncio.to_thread(wait_node, up, name, "Ready")
    await asyncio.to_thread(apply, up, {
        "kind": "GpuPool", "metadata": {"name": "solo", "namespace": "gpu"},
        "spec": {"region": "solo", "gpu": "any", "driver": "node", "nodeSelector": {"fleet": "solo"}}}, {
        "kind": "ModelDeployment", "metadata": {"name": "pair", "namespace": "gpu"},
        "spec": {"model": "m", "replicas": 2, "command": ["/bin/sleep", "1000"],
                 "placement": {"region": "solo", "gpu": "any", "maxPerNode": 1}}})
    feed = Feed(m1.nc, "BOSUN", nodes.consumer("m1"))  # its own consumer, made by the gateway at its join
    await feed.start()
    got: list[Delivery] = []
    deadline = asyncio.get_running_loop().time() + 30
    while not got:
        assert asyncio.get_running_loop().time() < deadline, (m1.errors, status(up, "modeldeployments", "pair"))
        got = await feed.take(10, timeout=1.0)
    cmd = codec.decode_command(got[0].stored.data, got[0].stored.headers)
    assert isinstance(cmd, StartOnNode) and cmd.node == "m1" and cmd.devices == ("0",), cmd
    assert got[0].stored.subject == "bosun.cmd.node-m1.modeldeployment.gpu.pair"
    await feed.ack(got[0])
    await feed.stop()
    assert not m1.errors
    # its replica's observations go through its door; the other node's replica it cannot report on
    theirs_rid = next(f"pair-{i}" for i in (1, 2) if f"pair-{i}" != cmd.replica)
    for rid, answer in ((cmd.replica, "seq"), (theirs_rid, "error")):
        report = nodes.ReplicaReport(target="modeldeployment.gpu.pair", id=f"obs/x/{rid}/lost/1",
                                     event=ReplicaLost(replica=rid, pool="gpu/solo", reason="test says so"))
        reply = await m1.nc.request(nodes.report_subject("m1"), msgspec.json.encode(report), timeout=10)
        body = json.loads(reply.data)
        assert answer in body, body
    assert body["error"]["code"] == "Forbidden"
    # not another node's consumer, and no consumer of its own making (that could widen the filter)
    theirs = f"$JS.API.CONSUMER.MSG.NEXT.BOSUN.{nodes.consumer('m2')}"
    await m1.nc.publish(theirs, b'{"batch": 10}', reply=m1.nc.new_inbox())
    assert await m1.refused(theirs)
    for subject in ("$JS.API.CONSUMER.CREATE.BOSUN.mine.bosun.cmd.>", "$JS.API.CONSUMER.DURABLE.CREATE.BOSUN.x",
                    f"$JS.API.CONSUMER.INFO.BOSUN.{nodes.consumer('m1')}",
                    f"$JS.API.CONSUMER.DELETE.BOSUN.{nodes.consumer('m1')}", "$JS.ACK.BOSUN.node-m2.1.1.1.1.1"):
        await m1.nc.publish(subject, b"{}")
        assert await m1.refused(subject), subject


def test_agents_run_their_replicas_each_on_its_devices_and_adopt_them(up: Up, tmp_path: Path,
                                                                      agents: list[Agent]) -> None:
    files = {}
    for name in ("r1", "r2", "r3"):
        files[name] = join(up, name, tmp_path)
        agents.append(Agent(files[name], name, tmp_path / name, "--gpus", "2", "--labels", "fleet=run"))
    for name in ("r1", "r2", "r3"):
        wait_node(up, name, "Ready")
    apply(up, fleet_pool("run"), deployment("svc", "run", 5, maxPerNode=2))
    wait_for(lambda: status(up, "modeldeployments", "svc").get("readyReplicas") == 5, 60,
             f"5 replicas ready: {status(up, 'modeldeployments', 'svc')}")
    running = {a.node: replicas_of(a) for a in agents}
    assert sum(len(r) for r in running.values()) == 5 and max(len(r) for r in running.values()) <= 2, running
    for node_name, found in running.items():
        held = [environ(f.identity.pid) for f in found]
        assert all(env["BOSUN_NODE"] == node_name for env in held)
        devices = [d for env in held for d in env["CUDA_VISIBLE_DEVICES"].split(",")]
        assert len(devices) == len(set(devices)) == len(found) and set(devices) <= {"0", "1"}, held
    wait_node(up, "r1", "Ready", replicas=len(running["r1"]))

    # the machine's agent dies (kill -9), its replicas run on; restarted, it adopts them: same pids
    first = agents[0]
    before = sorted(f.identity.pid for f in running["r1"])
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    agents.append(Agent(files["r1"], "r1", first.data))
    wait_for(lambda: "replica adopted" in agents[-1].output(), 30, "the restarted agent to adopt its replicas")
    assert sorted(f.identity.pid for f in replicas_of(agents[-1])) == before
    wait_node(up, "r1", "Ready", replicas=len(before))
    assert status(up, "modeldeployments", "svc").get("readyReplicas") == 5

    # a scale-down stops replicas through their nodes' agents (and frees their devices)
    apply(up, {"kind": "ModelDeployment", "metadata": {"name": "svc", "namespace": "gpu"},
               "spec": {"model": "m", "replicas": 2, "command": ["/bin/sleep", "1000"], "startupSeconds": 0.5,
                        "placement": {"region": "run", "gpu": "any", "maxPerNode": 2}}})

    def pids() -> set[int]:
        return {f.identity.pid for a in agents[1:] for f in replicas_of(a)}

    wait_for(lambda: len(pids()) == 2, 30, "3 replicas stopped by their agents")
    wait_for(lambda: status(up, "gpupools", "run").get("allocatedGpus") == 2, 30, "their slots released")
