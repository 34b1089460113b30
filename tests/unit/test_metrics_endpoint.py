"""`--metrics-port`: the engine registry over HTTP, and per-resource gauges rendered from read-model rows."""
from __future__ import annotations

import asyncio
import urllib.request

from core import metrics
from gateway.http import resource_metrics


def test_metrics_port_serves_the_engine_registry() -> None:
    metrics.RECONCILES.labels("modeldeployment", "ok").inc()
    port = metrics.serve_http(0, host="127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'bosun_reconcile_total{kind="modeldeployment",result="ok"}' in text
    assert "bosun_log_append_duration_seconds_bucket" in text or "bosun_log_append_duration_seconds" in text


class Rows:
    async def resource_gauges(self) -> list[tuple[str, str, str, str, int | None, int | None]]:
        return [("modeldeployment", "demo", "chat", "Progressing", 3, 1),
                ("gpupool", "infra", "a", "Ready", None, None)]


def test_per_resource_gauges_are_one_hot_by_phase() -> None:
    text = asyncio.run(resource_metrics.exposition(Rows())).decode()
    ids = 'kind="modeldeployment",name="chat",namespace="demo"'
    assert f"bosun_desired_replicas{{{ids}}} 3.0" in text
    assert f"bosun_ready_replicas{{{ids}}} 1.0" in text
    assert f'bosun_resource_phase{{{ids},phase="Progressing"}} 1.0' in text
    assert f'bosun_resource_phase{{{ids},phase="Ready"}} 0.0' in text
    assert 'bosun_resource_phase{kind="gpupool",name="a",namespace="infra",phase="Ready"} 1.0' in text
    assert 'bosun_desired_replicas{kind="gpupool"' not in text
