"""One apply is ONE connected trace across gateway, controller, driver and projector (in one process,
spans captured by the SDK's in-memory exporter); every span carries the `bosun.*` identity."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from actors import serving
from dataplane.sim import driver
from tests.conftest import eventually
from tests.integration.test_gateway_support import AUTH, deployment, gateway_env, path
from tests.spans import exporter

EXPORTER = exporter()


POOL = {"kind": "GpuPool", "metadata": {"name": "pool-a", "namespace": "infra"},
        "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 8, "namespaces": ["*"]}}


def trace_of(spans: list[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def assert_connected(spans: list[ReadableSpan]) -> None:
    """Exactly one root; every other span's parent is in the trace."""
    ids = {s.context.span_id for s in spans if s.context is not None}
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    assert len(roots) == 1, [(s.name, s.parent) for s in roots]


async def test_one_apply_is_one_connected_trace(nats_url: str, tmp_path: Path) -> None:
    EXPORTER.clear()
    stop = asyncio.Event()
    async with gateway_env(nats_url, tmp_path, projector=True) as env:
        tasks = [asyncio.create_task(serving.serve(nats_url, stop=stop, partitions=4, idle_seconds=60)),
                 asyncio.create_task(driver.serve(nats_url, tmp_path / "sim", stop=stop, latency=0.01))]
        try:
            pool = await env.client.put(path("infra", "gpupools", "pool-a"), json=POOL, headers=AUTH)
            assert pool.status_code == 202
            r = await env.client.put(path("demo", "modeldeployments", "chat"), json=deployment("chat"), headers=AUTH)
            assert r.status_code == 202, r.text

            async def ready() -> Any:
                got = await env.client.get(path("demo", "modeldeployments", "chat"), headers=AUTH)
                return got.status_code == 200 and (got.json().get("status") or {}).get("readyReplicas") == 2
            await eventually(ready, timeout=30)

            async def last_append_projected() -> bool:
                finished = [s for s in EXPORTER.get_finished_spans() if s.attributes]
                appended = [s.attributes.get("bosun.seq") for s in finished if s.name.startswith("log.append")]
                projected = {s.attributes.get("bosun.seq") for s in finished if s.name.startswith("project ")}
                return bool(appended) and max(a for a in appended if a is not None) in projected

            await eventually(last_append_projected)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    spans = list(EXPORTER.get_finished_spans())
    put = next(s for s in spans if s.name.startswith("PUT ") and s.attributes
               and s.attributes.get("bosun.name") == "chat")
    assert put.context is not None
    ours = trace_of(spans, put.context.trace_id)
    names = {s.name for s in ours}
    for expected in ("admission apply", "log.append spec", "reconcile modeldeployment", "log.append cmd",
                     "actuate StartReplica", "log.append obs", "log.append ctl"):
        assert expected in names, (expected, sorted(names))
    assert any(n.startswith("project ") for n in names), sorted(names)
    assert sum(1 for s in ours if s.name == "reconcile modeldeployment") >= 2  # spec, then observations
    assert_connected(ours)
    for s in ours:
        attrs = s.attributes or {}
        if not str(attrs.get("messaging.destination.name", "bosun.ev")).startswith(("bosun.ev", "bosun.cmd")):
            continue  # appends beside the resource's own subjects (e.g. audit records)
        assert attrs.get("bosun.kind") in ("modeldeployment", "gpupool"), (s.name, attrs)
        assert attrs.get("bosun.namespace") and attrs.get("bosun.name"), (s.name, attrs)
        assert isinstance(attrs.get("bosun.seq"), int), (s.name, attrs)
    # a reconcile caused by an observation is its child and links to every event folded for it
    obs = {s.context.span_id for s in ours if s.name == "log.append obs" and s.context is not None}
    caused = [s for s in ours if s.name == "reconcile modeldeployment" and s.parent and s.parent.span_id in obs]
    assert caused and all(s.links for s in caused)
    assert all(link.context.span_id in {x.context.span_id for x in ours if x.context} for s in caused
               for link in s.links)
