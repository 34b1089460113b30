"""Observability across SEPARATE processes: gateway, controller, sim driver and projector each export
spans over OTLP/HTTP to an in-test collector on loopback; one apply is one connected trace across all
four. The same run scrapes `/metrics` (gateway and `--metrics-port`) while replicas converge and reads
the components' JSON log lines for identity fields."""
from __future__ import annotations

import json
import secrets
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from core import natsserver
from core.ports import free_ports
from tests.integration.test_up_support import BOSUN, http_get, wait_for


class Collector:
    """A minimal OTLP/HTTP (protobuf) trace receiver: POST /v1/traces."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = ExportTraceServiceRequest.FromString(body)
                collector.add(req)
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, req: ExportTraceServiceRequest) -> None:
        for rs in req.resource_spans:
            service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
            for ss in rs.scope_spans:
                for s in ss.spans:
                    attrs = {a.key: _value(a.value) for a in s.attributes}
                    with self.lock:
                        self.spans.append({"service": service, "name": s.name, "trace": s.trace_id.hex(),
                                           "span": s.span_id.hex(), "parent": s.parent_span_id.hex(),
                                           "links": [lk.span_id.hex() for lk in s.links], "attrs": attrs})

    def close(self) -> None:
        self.server.shutdown()


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def scrape(url: str, token: str | None = None) -> dict[str, float]:
    """Prometheus text as {series: value}; with `token`, as a scraper with a bearer token (the gateway's
    per-resource gauges are only for callers who may list those resources)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def healthy(base: str) -> bool:
    try:  # (wait_for treats a raised OSError as a truthy result)
        return http_get(base + "/healthz", timeout=2)[0] == 200
    except OSError:
        return False


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


POOL = {"kind": "GpuPool", "metadata": {"name": "pool-a", "namespace": "infra"},
        "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 8, "namespaces": ["*"]}}
CHAT = {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "demo"},
        "spec": {"model": "llama-3-8b", "replicas": 2, "placement": {"region": "us-west-2", "gpu": "a100"}}}
MD = 'kind="modeldeployment",name="chat",namespace="demo"'


def put(base: str, token: str, path: str, doc: dict[str, Any], traceparent: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if traceparent:
        headers["traceparent"] = traceparent
    req = urllib.request.Request(base + path, data=json.dumps(doc).encode(), headers=headers, method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status)


def test_one_apply_one_trace_across_processes_with_metrics_and_logs(
        nats_server: natsserver.Server, collector: Collector, tmp_path: Path) -> None:
    data = tmp_path / "data"
    http_port, ctl_port, drv_port, proj_port = free_ports(4)
    env = {"PATH": "/usr/bin:/bin", "BOSUN_NATS_URL": nats_server.url(), "BOSUN_LOG_LEVEL": "DEBUG",
           "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
           "OTEL_BSP_SCHEDULE_DELAY": "100"}
    commands = {
        "gateway": ["gateway", "--http-port", str(http_port)],
        "controller": ["controller", "--partitions", "4", "--metrics-port", str(ctl_port)],
        "driver": ["driver", "sim", "--latency", "1.5", "--metrics-port", str(drv_port)],
        "projector": ["projector", "--metrics-port", str(proj_port)],
    }
    logs = {name: (tmp_path / f"{name}.log").open("w+") for name in commands}
    procs = {name: subprocess.Popen([BOSUN, *args, "--data", str(data)], env=env, stdout=logs[name],
                                    stderr=subprocess.STDOUT) for name, args in commands.items()}
    base = f"http://127.0.0.1:{http_port}"
    trace_id = secrets.token_hex(16)
    try:
        wait_for(lambda: healthy(base), 60, "the gateway")
        token = (data / "admin.token").read_text().strip()
        assert put(base, token, "/v1/namespaces/infra/gpupools/pool-a", POOL) == 202
        assert put(base, token, "/v1/namespaces/demo/modeldeployments/chat", CHAT,
                   f"00-{trace_id}-{secrets.token_hex(8)}-01") == 202

        seen: list[tuple[float | None, float | None]] = []

        def converged() -> bool:
            m = scrape(base + "/metrics", token)
            ready = m.get(f"bosun_ready_replicas{{{MD}}}")
            seen.append((ready, m.get(f'bosun_resource_phase{{{MD},phase="Ready"}}')))
            return ready == 2.0
        wait_for(converged, 60, "bosun_ready_replicas to reach 2", interval=0.1)
        assert any(r == 0.0 for r, _ in seen), seen  # observed while progressing, then converged
        assert seen[-1] == (2.0, 1.0)
        gw = scrape(base + "/metrics", token)
        assert gw[f"bosun_desired_replicas{{{MD}}}"] == 2.0
        assert gw[f'bosun_resource_phase{{{MD},phase="Progressing"}}'] == 0.0
        assert any(k.startswith("bosun_log_append_duration_seconds_count") for k in gw)

        ctl = scrape(f"http://127.0.0.1:{ctl_port}/metrics")
        assert ctl['bosun_reconcile_total{kind="modeldeployment",result="ok"}'] >= 2
        assert 'bosun_reconcile_duration_seconds_count{kind="modeldeployment",result="ok"}' in ctl
        drv = scrape(f"http://127.0.0.1:{drv_port}/metrics")
        assert drv['bosun_driver_commands_total{command="StartReplica",driver="sim",outcome="started"}'] == 2
        wait_for(lambda: "bosun_projection_lag_messages" in scrape(f"http://127.0.0.1:{proj_port}/metrics"), 10,
                 "the projector's lag gauge")
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(timeout=30)

    spans = [s for s in collector.spans if s["trace"] == trace_id]
    (tmp_path / "spans.txt").write_text("\n".join(  # kept beside the logs for a human looking into a failure
        f'{s["service"]:18} {s["name"]:34} parent={s["parent"] or "-":16} seq={s["attrs"].get("bosun.seq", "")} '
        f'{s["attrs"].get("bosun.kind", "")}/{s["attrs"].get("bosun.namespace", "")}/{s["attrs"].get("bosun.name", "")}'
        for s in spans))
    services = {s["service"] for s in spans}
    assert services >= {"bosun-gateway", "bosun-controller", "bosun-driver-sim", "bosun-projector"}, services
    ids = {s["span"] for s in spans}
    roots = [s for s in spans if s["parent"] not in ids]
    assert len(roots) == 1 and roots[0]["name"].startswith("PUT "), roots  # child of the caller's span
    names = {s["name"] for s in spans}
    assert {"admission apply", "log.append spec", "reconcile modeldeployment", "log.append cmd",
            "actuate StartReplica", "log.append obs"} <= names, names
    for s in spans:
        if s["attrs"].get("bosun.kind") is None:
            assert not str(s["attrs"].get("messaging.destination.name", "")).startswith(("bosun.ev", "bosun.cmd")), s

    lines = {}
    for name, f in logs.items():
        f.seek(0)
        lines[name] = [json.loads(line) for line in f if line.startswith("{")]
    for component in ("controller", "driver", "gateway"):
        ours = [rec for rec in lines[component] if rec.get("trace_id") == trace_id]
        assert ours, component
        assert all(rec.get("kind") and rec.get("namespace") and rec.get("name") for rec in ours), ours
        assert any((rec["kind"], rec["namespace"], rec["name"]) == ("modeldeployment", "demo", "chat")
                   or (rec["kind"], rec["namespace"], rec["name"]) == ("modeldeployments", "demo", "chat")
                   for rec in ours), ours
        assert any("seq" in rec or "resource_version" in rec for rec in ours), ours
    everything = "".join(json.dumps(v) for v in lines.values())
    assert token not in everything
