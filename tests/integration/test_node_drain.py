"""Issue #25: `placement.nodeSelector` and `bosun drain` with a real `bosun up` and real agents standing for machines.

A drain is make-before-break: sampled all along, a deployment's ready count never drops below its desired count;
at the end no replica runs on the drained node, it stays cordoned (new replicas stay off it) and the command
exits 0. With no capacity elsewhere it times out, exits 1 and says why, and the replica there keeps serving.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.node_support import Agent, deployment, fleet_pool, join, node, wait_node
from tests.integration.test_node_pools import apply, bosun, replicas_of, status
from tests.integration.test_up_support import BOSUN, Up, wait_for

VIEWER = "vera-viewer-token-81d2c4"
POLICY = {
    "principals": [{"name": "vera", "tokenSha256": hashlib.sha256(VIEWER.encode()).hexdigest()}],
    "roles": [{"name": "node-viewer", "rules": [{"verbs": ["get", "list", "watch"], "kinds": ["Node"],
                                                 "namespaces": ["*"]}]}],
    "bindings": [{"principal": "vera", "role": "node-viewer"}],
}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = Path(tmp_path_factory.mktemp("nodedrain"))
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    running = Up(root / "data", "--node-timeout", "5", "--policy", str(policy)).start()
    yield running
    running.stop()




def machines(up: Up, tmp_path: Path, agents: list[Agent], fleet: str, *spec: tuple[str, str, int]) -> None:
    """Agents for `(name, labels, gpus)`, each labelled `fleet=<fleet>`, and a node pool of them (region `fleet`)."""
    for name, labels, gpus in spec:
        extra = f"fleet={fleet}" + (f",{labels}" if labels else "")
        agents.append(Agent(join(up, name, tmp_path), name, tmp_path / name, "--gpus", str(gpus), "--labels", extra))
    for name, _, _ in spec:
        wait_node(up, name, "Ready")
    apply(up, fleet_pool(fleet))


def ready(up: Up, name: str, n: int, timeout: float = 60) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(lambda: (s := status(up, "modeldeployments", name)).get("readyReplicas") == n
                                     and s.get("phase") == "Ready" and s, timeout, f"{name}: {n} replicas ready")
    return found


def running(agent: Agent) -> int:
    return len(replicas_of(agent))


def drain(up: Up, node_name: str, timeout: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([BOSUN, "--data", str(up.data), *extra, "drain", f"node/{node_name}", "--timeout", timeout],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_replicas_go_only_to_nodes_matching_the_deployments_node_selector(up: Up, tmp_path: Path,
                                                                         agents: list[Agent]) -> None:
    machines(up, tmp_path, agents, "sel", ("s1", "zone=a", 2), ("s2", "zone=b", 2), ("s3", "zone=b", 2))
    apply(up, deployment("picky", "sel", 3, nodeSelector={"zone": "b"}))
    st = ready(up, "picky", 3)
    assert set(st["replicasByNode"]) == {"s2", "s3"}, st
    assert running(agents[0]) == 0 and running(agents[1]) + running(agents[2]) == 3
    apply(up, deployment("picky", "sel", 5, nodeSelector={"zone": "b"}))
    st = wait_for(lambda: "placement.nodeSelector zone=b" in json.dumps(s := status(up, "modeldeployments", "picky"))
                  and s.get("readyReplicas") == 4 and s, 30, "4 ready and the binding constraint in the status")
    message = next(c["message"] for c in st["conditions"] if c["type"] == "Scheduled")
    assert "no node has 1 free GPU (the most on one node: 0) (among the nodes matching placement.nodeSelector " \
           "zone=b)" in message, message
    assert st["readyReplicas"] == 4 and "s1" not in st["replicasByNode"] and running(agents[0]) == 0


def test_drain_is_make_before_break_and_leaves_the_node_cordoned(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    machines(up, tmp_path, agents, "mbb", ("d1", "", 2), ("d2", "", 2), ("d3", "", 2))
    apply(up, deployment("app", "mbb", 4, maxPerNode=2))
    st = ready(up, "app", 4)
    assert st["replicasByNode"] == {"d1": 2, "d2": 1, "d3": 1}, st  # spread: the fewest, then by name

    proc = drain(up, "d1", "60")
    samples: list[int] = []
    while True:  # a client polling the deployment all along the drain
        samples.append(int(status(up, "modeldeployments", "app").get("readyReplicas", -1)))
        try:
            out, err = proc.communicate(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            continue
    assert proc.returncode == 0, (out, err)
    assert len(samples) > 5 and min(samples) >= 4, samples  # never below desired
    assert "node/d1 cordoned; draining" in out and "gpu/app: 2 left on d1" in out and "node/d1 drained in" in out, out
    st = status(up, "modeldeployments", "app")
    assert st["readyReplicas"] == 4 and "d1" not in st["replicasByNode"] and "drainingReplicas" not in st, st
    assert running(agents[0]) == 0 and running(agents[1]) + running(agents[2]) == 4
    obj = node(up, "d1")
    assert obj["spec"] == {"unschedulable": True, "drain": True} and obj["status"]["drain"]["phase"] == "Drained"
    assert obj["status"]["schedulable"] is False

    # cordoned: a new replica stays off it, though it has the only free GPUs; uncordoned, it lands there
    apply(up, deployment("app", "mbb", 5, maxPerNode=2))
    wait_for(lambda: "insufficient capacity" in json.dumps(status(up, "modeldeployments", "app")), 30,
             "the 5th replica unschedulable")
    assert running(agents[0]) == 0
    bosun(up, "uncordon", "node/d1")
    assert ready(up, "app", 5)["replicasByNode"]["d1"] == 1 and running(agents[0]) == 1
    assert "drain" not in node(up, "d1")["spec"]


def test_drain_with_no_capacity_elsewhere_times_out_and_says_why(up: Up, tmp_path: Path, agents: list[Agent]) -> None:
    machines(up, tmp_path, agents, "tight", ("e1", "", 1), ("e2", "", 1))
    apply(up, deployment("full", "tight", 2))
    ready(up, "full", 2)

    refused = drain(up, "e1", "5", "--token", VIEWER)  # may read Nodes, not update them
    _, err = refused.communicate(timeout=30)
    assert refused.returncode == 1 and "Forbidden" in err, err
    assert not node(up, "e1")["spec"].get("unschedulable")

    proc = drain(up, "e1", "6")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "error: Timeout: node/e1 still holds 1 replica(s) after 6s; it stays cordoned and keeps draining" in err
    assert "gpu/full: 1 on e1: Unschedulable: cannot move 1 replica(s) off draining node(s) e1: insufficient " \
           "capacity" in err and "no node has 1 free GPU" in err, err
    st = status(up, "modeldeployments", "full")
    assert st["readyReplicas"] == 2 and st["replicasByNode"] == {"e1": 1, "e2": 1}, st  # it keeps serving
    assert running(agents[0]) == 1 and node(up, "e1")["spec"]["unschedulable"] is True
    bosun(up, "uncordon", "node/e1")  # ends the drain: what runs there stays
    assert ready(up, "full", 2)["replicasByNode"] == {"e1": 1, "e2": 1}
