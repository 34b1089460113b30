"""Issue #25: nodes join the plane with their own credential, register their GPUs, and that credential
reaches nothing but their own node's subjects; a node whose heartbeat stops is NotReady, and Ready again when
it beats (real `bosun up`, real agents with their own data dirs and labels standing for machines)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from core import natsusers, nodes
from tests.integration.nats_identity_support import connected, md
from tests.integration.node_support import Agent, join, node, token_of, wait_node
from tests.integration.test_up_support import BOSUN, Up, wait_for

NODE_TIMEOUT = 3


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = Path(tmp_path_factory.mktemp("nodes"))
    running = Up(root / "data", "--node-timeout", str(NODE_TIMEOUT)).start()
    yield running
    running.stop()




def test_nodes_register_with_their_declared_gpus_and_labels(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    for name, labels, gpus in (("gpu-a", "zone=a,gpu=h100", "0,1,2,3"), ("gpu-b", "zone=b", "2")):
        agents.append(Agent(join(up, name, tmp_path), name, tmp_path / name, "--labels", labels, "--gpus", gpus))
    a = wait_node(up, "gpu-a", "Ready", totalGpus=4)
    b = wait_node(up, "gpu-b", "Ready", totalGpus=2)
    assert a["status"]["labels"] == {"zone": "a", "gpu": "h100"} and b["status"]["labels"] == {"zone": "b"}
    assert [d["id"] for d in a["status"]["devices"]] == ["0", "1", "2", "3"]
    table = subprocess.run([BOSUN, "--data", str(up.data), "get", "nodes"], capture_output=True, text=True,
                           timeout=30).stdout
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "PHASE", "SCHEDULABLE", "LABELS", "GPUS", "REPLICAS", "HEARTBEAT", "AGE"]
    assert any(r.split()[:6] == ["gpu-a", "Ready", "true", "gpu=h100,zone=a", "0/4", "0"] for r in rows), table
    # a user labels and cordons the node through its spec; the agent's labels stay beneath
    subprocess.run([BOSUN, "--data", str(up.data), "apply", "-f", "-"], check=True, timeout=30, text=True,
                   input=json.dumps({"kind": "Node", "metadata": {"name": "gpu-b"},
                                     "spec": {"unschedulable": True, "labels": {"rack": "r7"}}}))
    b = wait_node(up, "gpu-b", "Ready", schedulable=False)
    assert b["status"]["labels"] == {"zone": "b", "rack": "r7"}
    # cordon and uncordon keep the rest of the spec
    for verb, schedulable in (("uncordon", True), ("cordon", False)):
        done = subprocess.run([BOSUN, "--data", str(up.data), verb, "node/gpu-b"], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0 and f"node/gpu-b {verb}ed" in done.stdout, done.stderr
        b = wait_node(up, "gpu-b", "Ready", schedulable=schedulable)
        assert b["spec"]["labels"] == {"rack": "r7"}
    # a clean stop leaves: NotReady until it joins again
    agents[1].stop()
    wait_node(up, "gpu-b", "NotReady")


def test_gpus_auto_without_nvml_joins_with_no_gpu_and_says_why(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    agents.append(Agent(join(up, "cpu-c", tmp_path), "cpu-c", tmp_path / "cpu-c", "--gpus", "auto"))
    c = wait_node(up, "cpu-c", "Ready", totalGpus=0)
    assert "NVML unavailable" in c["status"]["note"]
    wait_for(lambda: "joining with 0 GPUs: NVML unavailable" in agents[0].output(), 10, "the agent to say why")


def _put(up: Up, token: str, path: str, body: dict[str, object]) -> int:
    req = urllib.request.Request(f"{up.url}{path}", data=json.dumps(body).encode(), method="PUT",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_a_node_credential_cannot_apply_anything_over_http(up: Up, tmp_path: Path) -> None:
    token = token_of(join(up, "gpu-h", tmp_path))
    wait_for(lambda: _put(up, token, "/v1/namespaces/team-a/modeldeployments/x", md("x", "team-a")) != 401, 20,
             "the gateway to know the node's token")
    assert _put(up, token, "/v1/namespaces/team-a/modeldeployments/x", md("x", "team-a")) == 403
    assert _put(up, token, "/v1/namespaces/default/nodes/gpu-h",
                {"kind": "Node", "metadata": {"name": "gpu-h"}, "spec": {"unschedulable": True}}) == 403
    assert _put(up, token, "/v1/namespaces/default/rolebindings/node-gpu-h",
                {"kind": "RoleBinding", "metadata": {"name": "node-gpu-h"},
                 "spec": {"principal": "node-gpu-h", "role": "admin"}}) == 403


async def test_a_node_credential_reaches_only_its_own_node_over_nats(up: Up, tmp_path: Path) -> None:
    mine, other = join(up, "gpu-m", tmp_path), join(up, "gpu-o", tmp_path)
    url = up.conn["nats"]
    inbox = natsusers.client_inbox(nodes.principal("gpu-m"))
    async with connected(url, token=token_of(mine), inbox_prefix=inbox) as m, \
            connected(url, token=token_of(other), inbox_prefix=natsusers.client_inbox("node-gpu-o")) as o:
        # no specs, no events, no commands, no other node's subjects, no one else's replies
        for subject in ("bosun.ev.>", "bosun.ev.modeldeployment.team-a.>", "bosun.cmd.>", "bosun.node.gpu-o.*",
                        "bosun.node.>", "_INBOX.node-gpu-o.>", "$KV.bosun-nodes.>"):
            await m.nc.subscribe(subject)
            assert await m.refused(subject), subject
        # nothing but its own door: not the log, not the KV bucket, not the JetStream API, not an intent
        for subject in ("bosun.ev.node._cluster.gpu-m.obs", "bosun.node.gpu-o.obs", "$KV.bosun-nodes.gpu-o",
                        "$JS.API.DIRECT.GET.BOSUN", "$JS.API.STREAM.INFO.BOSUN",
                        "bosun.intent.ModelDeployment.team-a.x"):
            await m.nc.publish(subject, b"{}")
            assert await m.refused(subject), subject
        # its own report is written (through the gateway), and answered into its own inbox; the other
        # node, whose subject it may not publish on (above), never heard of it
        joined = nodes.NodeJoined(devices=(nodes.Device(id="9"),), epoch=99, at=1.0)
        reply = await m.nc.request(nodes.report_subject("gpu-m"), msgspec.json.encode(joined), timeout=10)
        assert json.loads(reply.data)["seq"] > 0
        assert node(up, "gpu-o").get("status", {}).get("phase") == "NotReady"
        obj = await asyncio.to_thread(wait_node, up, "gpu-m", "Ready", 20, totalGpus=1)
        assert obj["status"]["epoch"] == 99
        # garbage on its own door is refused with a reason, and writes nothing
        bad = await m.nc.request(nodes.report_subject("gpu-m"), b'{"type": "replica.lost"}', timeout=10)
        assert json.loads(bad.data)["error"]["code"] == "Invalid"
        assert not o.errors


def test_a_node_whose_heartbeat_stops_is_not_ready_and_ready_again_when_it_beats(
        up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    """SIGSTOP of an agent stands for a partition, kill -9 for a machine's death: both are NotReady after the
    node timeout (+ the lifecycle's 1 s tick); beats resuming make the node Ready again."""
    join_file = join(up, "gpu-p", tmp_path)
    agents.append(Agent(join_file, "gpu-p", tmp_path / "gpu-p", "--gpus", "1"))
    wait_node(up, "gpu-p", "Ready")
    os.killpg(agents[0].proc.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    lost = wait_node(up, "gpu-p", "NotReady", timeout=NODE_TIMEOUT + 15)
    assert lost["status"]["conditions"][0]["reason"] == "HeartbeatLost"
    assert time.monotonic() - t0 >= NODE_TIMEOUT - 0.5  # not before its time
    os.killpg(agents[0].proc.pid, signal.SIGCONT)
    wait_node(up, "gpu-p", "Ready", timeout=15)
    # a machine's death: kill -9, then the agent restarted on it (same data dir): a new epoch, Ready again
    os.killpg(agents[0].proc.pid, signal.SIGKILL)
    agents[0].proc.wait()
    assert wait_node(up, "gpu-p", "NotReady", timeout=NODE_TIMEOUT + 15)["status"]["epoch"] == 1
    agents.append(Agent(join_file, "gpu-p", tmp_path / "gpu-p", "--gpus", "1"))
    assert wait_node(up, "gpu-p", "Ready", timeout=20)["status"]["epoch"] == 2


def test_joining_again_rotates_the_token_and_the_old_agent_stops(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    (tmp_path / "old").mkdir()
    old = join(up, "gpu-r", tmp_path / "old")
    agents.append(Agent(old, "gpu-r", tmp_path / "gpu-r", "--gpus", "1"))
    wait_node(up, "gpu-r", "Ready")
    join(up, "gpu-r", tmp_path)  # a new token: the old one's connection is closed and refused again
    assert agents[0].proc.wait(timeout=30) == nodes.REFUSED_EXIT
    assert "the node's token was refused" in agents[0].output()
    # and an agent with a wrong token stops at once, saying so
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(old.read_text()), "token": "not-a-token"}))
    agents.append(Agent(bad, "gpu-r", tmp_path / "gpu-r2", "--gpus", "1"))
    assert agents[1].proc.wait(timeout=30) == nodes.REFUSED_EXIT
    assert "the node's token was refused" in agents[1].output()


def test_removing_a_node_revokes_its_credential(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    agents.append(Agent(join(up, "gpu-x", tmp_path), "gpu-x", tmp_path / "gpu-x", "--gpus", "1"))
    wait_node(up, "gpu-x", "Ready")
    done = subprocess.run([BOSUN, "--data", str(up.data), "node", "remove", "gpu-x"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert agents[0].proc.wait(timeout=30) == nodes.REFUSED_EXIT
    assert "the node's token was refused" in agents[0].output()
    wait_for(lambda: not node(up, "gpu-x"), 20, "the Node to be gone")
