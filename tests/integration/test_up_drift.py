"""`bosun driver sim kill-replica` behind Bosun's back: the whole `bosun up` tree notices and repairs it."""
from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

DEPLOYMENT = "/v1/namespaces/demo/modeldeployments/web"


def put(up: Up, path: str, manifest: dict[str, Any]) -> int:
    req = urllib.request.Request(up.url + path, data=json.dumps(manifest).encode(), method="PUT",
                                 headers={"Authorization": f"Bearer {up.token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status)


def ready_replicas(up: Up) -> int:
    code, obj = http_get(up.url + DEPLOYMENT, up.token)
    return int(((obj or {}).get("status") or {}).get("readyReplicas") or 0) if code == 200 else -1


def replica_lost(up: Up) -> bool:
    history = http_get(up.url + DEPLOYMENT + "/history", up.token)[1] or {}
    return any(str(e.get("type", "")).lower().endswith("lost") for e in history.get("items", []))


def test_replica_killed_behind_bosuns_back_is_replaced(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", "--latency", "0.01", "--seed", "1").start()
    try:
        assert put(up, "/v1/namespaces/infra/gpupools/pool-a", {
            "kind": "GpuPool", "metadata": {"name": "pool-a", "namespace": "infra"},
            "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 8, "namespaces": ["*"]}}) == 202
        assert put(up, DEPLOYMENT, {
            "kind": "ModelDeployment", "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"model": "llama-3-8b", "replicas": 2, "gpusPerReplica": 1,
                     "placement": {"region": "us-west-2", "gpu": "a100"}}}) == 202
        wait_for(lambda: ready_replicas(up) == 2, 60, "2 ready replicas")

        r = subprocess.run([BOSUN, "driver", "sim", "kill-replica", "modeldeployment/web", "-n", "demo",
                            "--data", str(up.data)], capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        killed = r.stdout.split()
        assert len(killed) == 1

        wait_for(lambda: replica_lost(up), 60, "the loss to be observed")
        wait_for(lambda: ready_replicas(up) == 2, 60, "the replica to be replaced")
    finally:
        up.stop()
