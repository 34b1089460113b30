"""Issue #25, node loss: a machine that dies (kill -9 of its agent and every replica) or is cut off (SIGSTOP of
its agent) is NotReady after the node timeout; after the eviction timeout its replicas are declared lost
(ReplicaLost, reason NodeLost) and replaced on the other nodes, never on a device already in use. An agent that
comes back (SIGCONT) stops the replicas no longer assigned to it before its node is Ready again; `bosun node
remove` deletes the node's command consumer. An agent cut off from the plane's network (its process runs on) stops
its replicas on its own once the plane has replaced them, and never starts them again (real `bosun up`, real
agents standing for machines, a TCP proxy standing for a machine's network)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest

from core import nodes
from core.log import Log
from dataplane.process import procs
from tests.integration.nats_identity_support import as_component
from tests.integration.node_support import Agent, Proxy, deployment, fleet_pool, join, wait_node
from tests.integration.test_node_pools import apply, bosun, environ, replicas_of, status
from tests.integration.test_up_support import Up, http_get, wait_for

NODE_TIMEOUT = 2
EVICTION = 4
SLACK = 15
"""Seconds past node timeout + eviction timeout a replacement may take (placement, start, readiness)."""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = Path(tmp_path_factory.mktemp("eviction"))
    running = Up(root / "data", "--node-timeout", str(NODE_TIMEOUT), "--eviction-timeout", str(EVICTION)).start()
    yield running
    running.stop()




def fleet(up: Up, tmp_path: Path, agents: list[Agent], prefix: str) -> list[Agent]:
    """Three machines of two GPUs each, a pool of them and a deployment of two replicas, one per node."""
    mine = [Agent(join(up, f"{prefix}{i}", tmp_path), f"{prefix}{i}", tmp_path / f"{prefix}{i}", "--gpus", "2",
                  "--labels", f"fleet={prefix}") for i in (1, 2, 3)]
    agents.extend(mine)
    for a in mine:
        wait_node(up, a.node, "Ready")
    apply(up, fleet_pool(prefix), deployment(prefix, prefix, 2, startup=0.3, maxPerNode=1))
    wait_for(lambda: status(up, "modeldeployments", prefix).get("readyReplicas") == 2, 60,
             f"2 replicas ready: {status(up, 'modeldeployments', prefix)}")
    return mine


def holder(agents: list[Agent]) -> Agent:
    return next(a for a in agents if replicas_of(a))


def replaced_without(up: Up, name: str, lost: str) -> dict[str, Any] | None:
    """The deployment's status once its 2 replicas are ready, none on node `lost`."""
    s = status(up, "modeldeployments", name)
    by_node = s.get("replicasByNode") or {}
    return s if s.get("readyReplicas") == 2 and sum(by_node.values()) == 2 and lost not in by_node else None


def devices_once(agents: list[Agent]) -> None:
    """No device of a machine serves two live replicas."""
    for a in agents:
        held = [d for f in replicas_of(a) for d in environ(f.identity.pid)["CUDA_VISIBLE_DEVICES"].split(",")]
        assert len(held) == len(set(held)), (a.node, held)


def history(up: Up, plural: str, namespace: str, name: str) -> list[dict[str, Any]]:
    code, body = http_get(f"{up.url}/v1/namespaces/{namespace}/{plural}/{name}/history?limit=1000", up.token)
    assert code == 200, body
    return list(body["items"])


def node_lost_in(up: Up, name: str) -> list[dict[str, Any]]:
    return [e for e in history(up, "modeldeployments", "gpu", name)
            if e["type"] == "replica.lost" and e["data"].get("reason") == "NodeLost"]


def test_a_dead_machines_replicas_are_replaced_on_the_others(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    mine = fleet(up, tmp_path, agents, "dead")
    victim = holder(mine)
    doomed = replicas_of(victim)
    before = {e["data"].get("replica") for e in history(up, "modeldeployments", "gpu", "dead") if e["slice"] == "cmd"}
    os.killpg(victim.proc.pid, signal.SIGKILL)  # the machine dies: its agent and every replica
    for found in doomed:
        procs.signal_group(found.identity, signal.SIGKILL)
    victim.proc.wait()
    wait_node(up, victim.node, "NotReady", timeout=NODE_TIMEOUT + 10)
    wait_for(lambda: replaced_without(up, "dead", victim.node), NODE_TIMEOUT + EVICTION + SLACK,
             f"its replicas replaced elsewhere: {status(up, 'modeldeployments', 'dead')}")
    others = [a for a in mine if a is not victim]
    assert sum(len(replicas_of(a)) for a in others) == 2
    devices_once(others)
    lost = node_lost_in(up, "dead")
    assert [e["data"]["replica"] for e in lost] == [f.record.split("/")[1] for f in doomed], lost
    assert all(e["slice"] == "obs" and e["data"]["node"] == victim.node for e in lost)
    after = [e for e in history(up, "modeldeployments", "gpu", "dead")
             if e["slice"] == "cmd" and e["data"].get("replica") not in before | {None}]
    assert after and min(e["seq"] for e in after) > max(e["seq"] for e in lost), (lost, after)  # not before its time
    pool = wait_for(lambda: (s := status(up, "gpupools", "dead")).get("allocatedGpus") == 2 and s, 20,
                    "the pool's ledger freed the lost node's slot")
    assert victim.node not in {k for k, v in (pool.get("replicasByNode") or {}).items() if v}, pool
    gone = wait_node(up, victim.node, "NotReady", evictedReplicas=len(doomed))
    assert "evicted" in gone["status"]["conditions"][0]["message"]
    evicted = [e for e in history(up, "nodes", "default", victim.node) if e["type"] == "node.replicas-evicted"]
    assert len(evicted) == 1 and "1 replica(s) evicted" in evicted[0]["summary"], evicted

    # taken out of the plane: its credential, the Node, and its command consumer
    bosun(up, "node", "remove", victim.node)
    assert asyncio.run(consumer_exists(up, victim.node)) is False
    assert asyncio.run(consumer_exists(up, others[0].node)) is True


async def consumer_exists(up: Up, node: str) -> bool:
    async with as_component(up, "controller") as client:
        try:
            await Log(client.nc).jsm.consumer_info("BOSUN", nodes.consumer(node))
        except nats.js.errors.NotFoundError:
            return False
        return True


def test_an_agent_back_from_a_partition_stops_its_stale_replicas_before_it_is_ready(
        up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    mine = fleet(up, tmp_path, agents, "cut")
    victim = holder(mine)
    stale = replicas_of(victim)
    os.kill(victim.proc.pid, signal.SIGSTOP)  # cut off: the agent stands still, its replicas run on
    wait_node(up, victim.node, "NotReady", timeout=NODE_TIMEOUT + 10)
    wait_for(lambda: replaced_without(up, "cut", victim.node), NODE_TIMEOUT + EVICTION + SLACK,
             f"its replicas replaced elsewhere: {status(up, 'modeldeployments', 'cut')}")
    assert all(procs.alive(f.identity) for f in stale)  # it has not seen the log yet: they still run
    assert node_lost_in(up, "cut")

    os.kill(victim.proc.pid, signal.SIGCONT)  # back: it must stop them first, then be Ready
    back = wait_node(up, victim.node, "Ready", timeout=30)
    assert not any(procs.alive(f.identity) for f in stale), "Ready while a stale copy still ran"
    assert "evictedReplicas" not in back["status"]
    assert not replicas_of(victim)
    assert replaced_without(up, "cut", victim.node) is not None  # the replacements serve on
    devices_once(mine)
    stopped = [e for e in history(up, "modeldeployments", "gpu", "cut") if e["type"] == "replica.stopped"]
    assert {e["data"]["replica"] for e in stopped} >= {f.record.split("/")[1] for f in stale}


def test_an_agent_restarted_after_its_eviction_stops_what_it_adopted_before_it_is_ready(
        up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    mine = fleet(up, tmp_path, agents, "back")
    victim = holder(mine)
    stale = replicas_of(victim)
    os.kill(victim.proc.pid, signal.SIGKILL)  # the agent alone dies: its replicas run on
    victim.proc.wait()
    wait_for(lambda: replaced_without(up, "back", victim.node), NODE_TIMEOUT + EVICTION + SLACK,
             f"its replicas replaced elsewhere: {status(up, 'modeldeployments', 'back')}")
    assert all(procs.alive(f.identity) for f in stale)
    again = Agent(tmp_path / f"join-{victim.node}.json", victim.node, victim.data)  # restarted on the machine
    agents.append(again)
    wait_node(up, victim.node, "Ready", timeout=30)
    assert not any(procs.alive(f.identity) for f in stale), "Ready while an adopted stale copy still ran"
    assert "replica adopted" in again.output()
    assert replaced_without(up, "back", victim.node) is not None


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    started: list[Proxy] = []
    yield started
    for p in started:
        p.close()


def test_an_agent_cut_off_from_the_plane_stops_its_replicas_on_its_own(
        up: Up, tmp_path: Path, proxies: list[Proxy], agents: list[Agent]) -> None:
    # (`proxies` before `agents`: the agents are stopped while their network still works)
    mine, nets = [], []
    for i in (1, 2, 3):  # three machines, each reaching the plane's NATS through a network of its own (a proxy)
        net = Proxy(up.conn["nats"]).start()
        proxies.append(net)
        nets.append(net)
        node = f"fenced{i}"
        mine.append(Agent(join(up, node, tmp_path, "--nats", net.url), node, tmp_path / node, "--gpus", "2",
                          "--labels", "fleet=fenced"))
    agents.extend(mine)
    for a in mine:
        wait_node(up, a.node, "Ready")
    apply(up, fleet_pool("fenced"), deployment("fenced", "fenced", 2, startup=0.3, maxPerNode=1))
    wait_for(lambda: status(up, "modeldeployments", "fenced").get("readyReplicas") == 2, 60,
             f"2 replicas ready: {status(up, 'modeldeployments', 'fenced')}")
    victim = holder(mine)
    net = nets[mine.index(victim)]
    stale = replicas_of(victim)
    stale_ids = {f.record.split("/")[1] for f in stale}
    fence_after = NODE_TIMEOUT + EVICTION  # what its join file says: the plane's own timeouts

    net.cut()  # a partition: the agent runs on, it cannot reach the plane
    wait_for(lambda: not any(procs.alive(f.identity) for f in stale), fence_after + 2 + 5,
             f"the cut-off agent stopped its replicas on its own; its log:\n{victim.output()[-3000:]}")
    assert net.cut_off and victim.proc.poll() is None  # on its own: still cut off, still running
    assert "cut off from the plane: fencing itself" in victim.output()
    wait_for(lambda: replaced_without(up, "fenced", victim.node), NODE_TIMEOUT + EVICTION + SLACK,
             f"its replicas replaced elsewhere: {status(up, 'modeldeployments', 'fenced')}")

    net.restore()
    wait_node(up, victim.node, "Ready", timeout=30)
    stopped = wait_for(lambda: {e["data"]["replica"] for e in history(up, "modeldeployments", "gpu", "fenced")
                                if e["type"] == "replica.stopped"} >= stale_ids, 20,
                       "the agent reported its fenced replicas stopped once back")
    assert stopped
    said = wait_for(lambda: [e for e in history(up, "nodes", "default", victim.node) if e["type"] == "node.reported"
                             and e["data"].get("fenced") == len(stale)], 20,
                    "its next status report says it fenced itself")
    assert "it stopped 1 replica(s) on its own" in said[0]["summary"], said
    assert not {f.record.split("/")[1] for f in replicas_of(victim)} & stale_ids  # never started again
    assert replaced_without(up, "fenced", victim.node) is not None
    devices_once(mine)
    join_file = json.loads((tmp_path / f"join-{victim.node}.json").read_text())
    assert (join_file["nodeTimeout"], join_file["evictionTimeout"]) == (NODE_TIMEOUT, EVICTION)
