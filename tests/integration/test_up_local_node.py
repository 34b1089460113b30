"""Issue #25: `bosun up` runs an agent for its own machine, joined with the node's own credential (none of the
plane's secrets in its environment), supervised like every component: a `driver: node` pool places replicas on
it, a kill -9 of the agent is restarted and adopts its replicas (same pids), a stop of `bosun up` stops them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataplane.process import procs, store
from supervisor import procs as tree
from tests.integration.node_support import wait_node
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

ROOT = Path(__file__).resolve().parents[2]
POOL = {"kind": "GpuPool", "metadata": {"name": "here", "namespace": "infra"},
        "spec": {"region": "home", "gpu": "any", "driver": "node", "nodeSelector": {"site": "home"},
                 "namespaces": ["demo"]}}
CHAT = {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "demo"},
        "spec": {"model": "tiny", "replicas": 2, "placement": {"region": "home", "gpu": "any"},
                 "command": [str(ROOT / "examples" / "process" / "model_server.py")],
                 "readiness": {"httpGet": {"path": "/healthz"}, "periodSeconds": 1}}}


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path / "data", "--node-name", "home-box", "--gpus", "2", "--node-labels", "site=home").start()
    try:
        yield running
    finally:
        running.stop()
        for found in replicas(running):  # only if `bosun up` failed to: a test ends what it starts
            procs.signal_group(found.identity, signal.SIGKILL)


def replicas(up: Up) -> list[procs.Found]:
    return list(procs.scan(str(store.home(up.data / "agent"))))


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def apply(up: Up, manifest: dict[str, Any]) -> None:
    done = subprocess.run([BOSUN, "--data", str(up.data), "apply", "-f", "-"], capture_output=True, text=True,
                          timeout=30, input=json.dumps(manifest))
    assert done.returncode == 0, done.stderr


def ready_replicas(up: Up) -> int:
    code, body = http_get(f"{up.url}/v1/namespaces/demo/modeldeployments/chat", up.token)
    return int((body.get("status") or {}).get("readyReplicas") or 0) if code == 200 else 0


def test_bosun_up_runs_its_own_machine_as_a_node(up: Up) -> None:
    node = wait_node(up, "home-box", "Ready", timeout=60, totalGpus=2)
    assert node["status"]["labels"]["site"] == "home"
    join_file = up.data / "agent" / "join.json"
    assert join_file.stat().st_mode & 0o077 == 0 and json.loads(join_file.read_text())["node"] == "home-box"

    agent = up.pids()["agent"]
    env = environ(agent)
    admin_token = (up.data / "admin.token").read_text().strip()
    assert not {"BOSUN_NATS_CREDENTIALS", "BOSUN_TOKEN", "BOSUN_NATS_URL"} & set(env), sorted(env)
    assert admin_token not in "\0".join([*env.values(), *tree.argv(agent)])
    assert "--stop-replicas-on-exit" in tree.argv(agent)  # bosun up without --keep-replicas

    apply(up, POOL)
    apply(up, CHAT)
    wait_for(lambda: ready_replicas(up) == 2, 60, "chat Ready on the local node")
    before = {f.identity.pid for f in replicas(up)}
    assert len(before) == 2 and all(environ(pid)["BOSUN_NODE"] == "home-box" for pid in before)
    assert sorted(environ(pid)["CUDA_VISIBLE_DEVICES"] for pid in before) == ["0", "1"]

    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: (p := up.pids().get("agent")) is not None and p != agent and tree.alive(p), 30,
             "the agent restarted by bosun up")
    wait_node(up, "home-box", "Ready", timeout=30, epoch=2)
    assert {f.identity.pid for f in replicas(up)} == before  # adopted, not restarted
    assert ready_replicas(up) == 2

    assert up.stop() == 0
    assert replicas(up) == []  # a stop of bosun up (no --keep-replicas) stops the local node's replicas


def test_keep_replicas_leaves_the_local_nodes_replicas_for_the_next_start_to_adopt(tmp_path: Path) -> None:
    args = ("--node-name", "home-box", "--gpus", "1", "--node-labels", "site=home", "--keep-replicas")
    first = Up(tmp_path / "data", *args).start()
    try:
        wait_node(first, "home-box", "Ready", timeout=60)
        assert "--stop-replicas-on-exit" not in tree.argv(first.pids()["agent"])
        apply(first, POOL)
        apply(first, {**CHAT, "spec": {**CHAT["spec"], "replicas": 1}})
        wait_for(lambda: ready_replicas(first) == 1, 60, "chat Ready on the local node")
        before = {f.identity.pid for f in replicas(first)}
        assert first.stop() == 0
        assert {f.identity.pid for f in replicas(first)} == before  # kept running
        second = Up(tmp_path / "data", *args).start()
        try:
            wait_node(second, "home-box", "Ready", timeout=60, epoch=2)
            wait_for(lambda: ready_replicas(second) == 1, 60, "chat still Ready")
            assert {f.identity.pid for f in replicas(second)} == before  # adopted by the next start's agent
        finally:
            second.stop()
    finally:
        first.stop()
        for found in replicas(first):  # kept on purpose: the test ends them
            procs.signal_group(found.identity, signal.SIGKILL)


def components(up: Up) -> dict[str, Any]:
    path = up.data / "run" / "components.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def test_removing_the_local_node_stops_its_agent_for_good_until_it_is_joined_again(up: Up) -> None:
    wait_node(up, "home-box", "Ready", timeout=60)
    apply(up, POOL)
    apply(up, {**CHAT, "spec": {**CHAT["spec"], "replicas": 1}})
    wait_for(lambda: ready_replicas(up) == 1, 60, "chat Ready on the local node")
    agent = up.pids()["agent"]

    done = subprocess.run([BOSUN, "--data", str(up.data), "node", "remove", "home-box"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "this plane's own machine" in done.stderr and "--no-node" in done.stderr
    wait_for(lambda: not tree.alive(agent), 30, "the local node's agent to stop")
    stopped = wait_for(lambda: (c := components(up).get("agent")) and c["state"] == "stopped" and c, 15,
                       "the supervisor to record the agent stopped")
    # at most one restart: the gateway's read model may not show the Principal gone at the first refusal
    assert stopped["lastExitCode"] == 3 and stopped["restarts"] <= 1 and stopped["restartAt"] is None
    refusals = up.output().count("bosun agent: the node's token was refused")
    assert refusals == 1 + stopped["restarts"]
    assert "node home-box was removed" in stopped["reason"] and "bosun node join home-box" in stopped["reason"]
    wait_for(lambda: replicas(up) == [], 30, "the removed node's replicas stopped with its agent")
    wait_for(lambda: not node_exists(up), 20, "the Node to be gone")

    # joined again by hand (the hint's command): the supervisor starts the agent again, a new epoch
    joined = subprocess.run([BOSUN, "--data", str(up.data), "node", "join", "home-box",
                             "-o", str(up.data / "agent" / "join.json")], capture_output=True, text=True, timeout=30)
    assert joined.returncode == 0, joined.stderr
    wait_node(up, "home-box", "Ready", timeout=60)
    assert components(up)["agent"]["state"] == "running"
    # between its stop and the join it never ran again: no more refusals, one stop, in bosun up's log
    assert up.output().count("bosun agent: the node's token was refused") == refusals, up.output()[-3000:]
    assert up.output().count("component stopped; not restarting") == 1
    assert up.stop() == 0


def node_exists(up: Up) -> bool:
    return http_get(f"{up.url}/v1/namespaces/default/nodes/home-box", up.token)[0] == 200
