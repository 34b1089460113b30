"""`bosun cost` and `bosun logs` against a real gateway, projector, controller and drivers."""
from __future__ import annotations

import json
from pathlib import Path

from actors import serving as controller
from dataplane.sim import driver as sim
from tests.conftest import eventually
from tests.integration.test_cli_gateway import bosun, data_dir  # noqa: F401  (the fixture)
from tests.integration.test_controller import Running

MANIFESTS = """\
kind: GpuPool
metadata: {name: pool-a, namespace: infra}
spec: {region: us-west-2, gpu: a100, capacity: 8, pricePerGpuHour: 1.5, namespaces: ["*"]}
---
kind: ModelDeployment
metadata: {name: chat, namespace: demo}
spec: {model: llama-3-8b, replicas: 2, gpusPerReplica: 2, placement: {region: us-west-2, gpu: a100}}
"""


async def test_cost_shows_rate_and_accumulation_per_deployment(data_dir: Path, nats_url: str,
                                                               tmp_path: Path) -> None:
    plane = Running()
    plane.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    plane.start("sim", lambda stop: sim.serve(nats_url, tmp_path / "sim", stop=stop, latency=0.02))
    try:
        assert (await bosun(data_dir, "apply", "-f", "-", stdin=MANIFESTS)).exit_code == 0

        async def billed() -> dict[str, object] | None:
            r = await bosun(data_dir, "cost", "-n", "demo", "-o", "json")
            items = json.loads(r.stdout)["items"]
            return items[0] if items and items[0]["costPerHour"] == 6.0 else None  # 2 x 2 GPU x 1.5

        await eventually(billed)
        table = (await bosun(data_dir, "cost")).stdout.splitlines()
        assert table[0].split() == ["NAMESPACE", "DEPLOYMENT", "REPLICAS", "GPUS", "COST/HOUR", "GPU-HOURS", "COST"]
        assert table[1].split()[:5] == ["demo", "chat", "2", "4", "6.00"]
        assert table[2].split()[:3] == ["demo", "(total)", "6.00"]
        missing = await bosun(data_dir, "logs", "md/chat", "-n", "demo")
        assert missing.exit_code == 1 and "no replica logs" in missing.stderr  # sim replicas write none
    finally:
        await plane.stop_all()
