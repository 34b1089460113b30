"""The autoscaler stops at quota end to end, against `bosun up` (real nats-server, controller, sim driver,
projector and gateway processes) through the real CLI: a Quota lowered after admission stops it with
ScalingLimited (QuotaExceeded, used / wanted / limit), `bosun history` shows the autoscaler's decision
and why, raising the Quota lets it scale up again, `bosun plan` predicts the autoscaler's recommendation,
and `bosun replay --check --all` finds no divergence."""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for
from tests.integration.test_whatif_up import bosun, manifests, pool


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path / "data").start()
    yield running
    running.stop()


def quota(gpus: int) -> dict[str, Any]:
    return {"kind": "Quota", "metadata": {"name": "limits", "namespace": "team-a"}, "spec": {"limits": {"gpus": gpus}}}


def chat() -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "team-a"},
            "spec": {"model": "llama-3-8b", "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"},
                     "autoscaling": {"min": 1, "max": 5, "targetLoadPerReplica": 50}}}


def status(up: Up) -> dict[str, Any]:
    code, body = http_get(f"{up.url}/v1/namespaces/team-a/modeldeployments/chat", up.token)
    return dict(body.get("status") or {}) if code == 200 else {}


def ready_at(up: Up, n: int) -> bool:
    st = status(up)
    return st.get("desiredReplicas") == n and st.get("readyReplicas") == n


def limited(up: Up) -> dict[str, Any] | None:
    return next((c for c in status(up).get("conditions", []) if c["type"] == "ScalingLimited"), None)


def test_the_autoscaler_stops_at_a_lowered_quota_and_says_why(up: Up, tmp_path: Path) -> None:
    bosun(up, "apply", "-f", manifests(tmp_path, "base", pool(8), quota(8), chat()))
    wait_for(lambda: ready_at(up, 1), 60, "chat at 1 replica")
    bosun(up, "driver", "sim", "set-load", "md/chat", "-n", "team-a", "--rps", "240")
    wait_for(lambda: ready_at(up, 5), 60, "chat at 5 replicas")

    bosun(up, "apply", "-f", manifests(tmp_path, "lower", quota(3)))
    cond = wait_for(lambda: limited(up), 60, "ScalingLimited")
    assert cond["reason"] == "QuotaExceeded"
    assert cond["message"] == "autoscaler wants 5 replicas; 3 allowed by quota gpus: used 0, wanted 5, limit 3"
    wait_for(lambda: ready_at(up, 3), 60, "chat down to 3 replicas")

    def told() -> str:
        out = bosun(up, "history", "md/chat", "-n", "team-a").stdout
        return out if "limited by quota gpus: used 0, wanted 5, limit 3" in out else ""

    out = wait_for(told, 30, "the autoscaler's decision in the history")
    assert "ctl.autoscaler" in out and "stopped at quota" in out

    bosun(up, "apply", "-f", manifests(tmp_path, "raise", quota(8)))
    wait_for(lambda: ready_at(up, 5) and limited(up) is None, 60, "chat back at 5 replicas, not limited")

    # What-if runs the autoscaler too: at this load (240 rps), 40 per replica up to 8 means 6 replicas.
    wider = chat()
    wider["spec"]["autoscaling"].update(targetLoadPerReplica=40, max=8)
    report = json.loads(bosun(up, "plan", "-f", manifests(tmp_path, "plan", wider), "-o", "json").stdout)
    [item] = report["items"]
    assert item["predicted"]["fields"]["desiredReplicas"] == 6, item
    assert any(s["slice"] == "ctl.autoscaler" and s["type"] == "scale.set" for s in item["timeline"])

    check = subprocess.run([BOSUN, "--data", str(up.data), "replay", "--check", "--all"], capture_output=True,
                           text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 divergences" in check.stdout
    print(check.stdout.strip().splitlines()[-1])
    print("\n".join(line for line in out.splitlines() if "autoscaler" in line or "quota" in line))
