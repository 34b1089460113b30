"""Simulated nodes (`bosun up --sim-nodes N`): they join, beat and run replicas like agents, so a pool made of
them schedules as onto real machines; a stopped one (its machine's death) is NotReady, its replicas evicted and
replaced on the others; started again it comes back Ready past the eviction's fence."""
from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import natscreds, natsusers
from dataplane.sim import nodeworld
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

NODES = 20
REPLICAS = 10
POOL = {"kind": "GpuPool", "metadata": {"name": "sims", "namespace": "infra"},
        "spec": {"region": "sim", "gpu": "sim", "driver": "node", "nodeSelector": {"sim": "true"},
                 "namespaces": ["*"]}}
DEPLOYMENT = {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "team-a"},
              "spec": {"model": "m", "replicas": REPLICAS, "command": ["serve"],
                       "placement": {"region": "sim", "gpu": "sim", "spread": "zone", "maxPerNode": 1}}}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = Path(tmp_path_factory.mktemp("simnodes"))
    running = Up(root / "data", "--sim-nodes", str(NODES), "--sim-node-gpus", "2", "--node-timeout", "3",
                 "--eviction-timeout", "2", "--latency", "0.05").start()
    yield running
    running.stop()


def put(up: Up, path: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(up.url + path, data=json.dumps(body).encode(), method="PUT",
                                 headers={"Authorization": f"Bearer {up.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status)


def phases(up: Up) -> dict[str, str]:
    items = http_get(up.url + "/v1/nodes?limit=1000", up.token)[1]["items"]
    return {n["metadata"]["name"]: (n.get("status") or {}).get("phase", "") for n in items
            if n["metadata"]["name"].startswith("sim-")}  # not the plane's own machine's node


def deployment(up: Up) -> dict[str, Any]:
    return dict(http_get(up.url + "/v1/namespaces/team-a/modeldeployments/chat", up.token)[1].get("status") or {})


def test_sim_nodes_schedule_like_agents_and_a_stopped_one_is_lost_and_replaced(up: Up) -> None:
    names = [f"sim-{i:04d}" for i in range(1, NODES + 1)]
    wait_for(lambda: phases(up) == dict.fromkeys(names, "Ready"), 60, "every simulated node Ready")
    node = http_get(up.url + "/v1/namespaces/_cluster/nodes/sim-0002", up.token)[1]["status"]
    assert node["labels"]["zone"] == "zone-b" and node["totalGpus"] == 2

    assert put(up, "/v1/namespaces/infra/gpupools/sims", POOL) == 202
    wait_for(lambda: (http_get(up.url + "/v1/namespaces/infra/gpupools/sims", up.token)[1].get("status") or {})
             .get("capacity") == 2 * NODES, 60, "the pool counting every node's GPUs")
    assert put(up, "/v1/namespaces/team-a/modeldeployments/chat", DEPLOYMENT) == 202
    ready = wait_for(lambda: (lambda s: s if s.get("phase") == "Ready" and s.get("readyReplicas") == REPLICAS
                              else None)(deployment(up)), 60, "the deployment Ready")
    by_node = ready["replicasByNode"]
    assert sum(by_node.values()) == REPLICAS and max(by_node.values()) == 1  # maxPerNode 1
    world = nodeworld.summary(up.data)
    assert {n for n, row in world.items() if row["replicas"]} == {n for n, c in by_node.items() if c}
    zones = [world[n]["zone"] for n, c in by_node.items() if c]
    assert max(zones.count(z) for z in set(zones)) - min(zones.count(z) for z in set(zones)) <= 1  # spread: zone

    lost = sorted(n for n, c in by_node.items() if c)[0]
    out = subprocess.run([BOSUN, "sim", "node", "stop", lost, "--data", str(up.data)], capture_output=True,
                         text=True, check=True).stdout
    assert f"node/{lost} stopped" in out
    wait_for(lambda: phases(up)[lost] == "NotReady", 30, f"{lost} NotReady")
    assert all(p == "Ready" for n, p in phases(up).items() if n != lost)
    moved = wait_for(lambda: (lambda s: s if s.get("phase") == "Ready" and s.get("readyReplicas") == REPLICAS
                              and not s.get("replicasByNode", {}).get(lost) else None)(deployment(up)),
                     60, f"the replica of {lost} evicted and Ready elsewhere")
    assert sum(moved["replicasByNode"].values()) == REPLICAS and max(moved["replicasByNode"].values()) == 1

    subprocess.run([BOSUN, "sim", "node", "start", lost, "--data", str(up.data)], check=True, capture_output=True)
    wait_for(lambda: phases(up)[lost] == "Ready", 30, f"{lost} Ready again (past the eviction's fence)")
    assert nodeworld.summary(up.data)[lost]["fence"] > 0


def test_the_sim_nodes_user_may_touch_only_its_nodes_keys(up: Up) -> None:
    creds = natscreds.Credentials.load(up.data / "nats-credentials.json")
    assert natsusers.SIM_NODES in creds.users
    conf = (up.data / "nats.conf").read_text()
    block = conf[conf.index(f'user: "{natsusers.SIM_NODES}"'):]
    block = block[:block.index("}\n    }")]
    assert '"$KV.bosun-nodes.sim-0001"' in block and f'"$KV.bosun-nodes.sim-{NODES:04d}"' in block
    assert '"$KV.bosun-nodes.*"' not in block and '"$KV.bosun-nodes.>"' not in block
    assert f'"$JS.API.CONSUMER.MSG.NEXT.BOSUN.{natsusers.SIM_NODES}"' in block
    assert "bosun.cmd" not in block.split("deny")[0]  # it reads its commands through its consumer only


async def test_the_sim_nodes_user_is_refused_another_nodes_heartbeat(up: Up) -> None:
    import asyncio

    import nats

    creds = natscreds.Credentials.load(up.data / "nats-credentials.json")
    errors: list[str] = []
    refused = asyncio.Event()

    async def on_error(e: Exception) -> None:
        errors.append(str(e))
        refused.set()

    nc = await nats.connect(natscreds.with_user(up.conn["nats"], creds.of(natsusers.SIM_NODES)), error_cb=on_error,
                            inbox_prefix=natsusers.inbox_of(natsusers.SIM_NODES), allow_reconnect=False)
    try:
        await nc.publish("$KV.bosun-nodes.gpu-real", b'{"at": 1}')
        await nc.publish("$KV.bosun-nodes.sim-0001", b'{"at": 1}')
        await nc.flush()
        await asyncio.wait_for(refused.wait(), 5)
        await nc.flush()  # the second publish (its own node's key) passed: no second error
    finally:
        await nc.close()
    assert len(errors) == 1 and "gpu-real" in errors[0] and "permissions violation" in errors[0].lower()
