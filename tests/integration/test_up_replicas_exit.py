"""Ctrl-C on `bosun up` stops the replica processes it started, unless `--keep-replicas` (issue #28: the
process example's replicas were left running as orphans).

Replicas lead their own sessions (they outlive a driver crash, to be adopted), so the terminal's SIGINT
never reaches them: the driver has to stop them on its way out.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

from bosun import Client
from tests.integration.test_up_support import Up, wait_for
from tests.processes import end_all, running, server_command

POOL = {"kind": "GpuPool", "metadata": {"name": "local", "namespace": "infra"},
        "spec": {"region": "local", "gpu": "any", "driver": "process", "devices": ["0", "1"], "namespaces": ["demo"]}}
ECHO = {"kind": "ModelDeployment", "metadata": {"name": "echo", "namespace": "demo"},
        "spec": {"model": "tiny", "replicas": 2, "placement": {"region": "local", "gpu": "any"},
                 "command": server_command(), "terminationGracePeriodSeconds": 2,
                 "readiness": {"httpGet": {"path": "/healthz"}, "periodSeconds": 0.2, "failureThreshold": 2}}}


def ctrl_c(plane: Up) -> int:
    """SIGINT to `bosun up`'s process group, as a terminal's Ctrl-C; its exit code."""
    assert plane.proc is not None
    os.killpg(plane.proc.pid, signal.SIGINT)
    return plane.proc.wait(60)


def ready_replicas(plane: Up) -> dict[str, dict[str, str]]:
    with Client(plane.url, plane.token) as bosun:
        bosun.apply(POOL)
        bosun.apply(ECHO)
        bosun.wait("ModelDeployment", "echo", namespace="demo", timeout=90)
    return wait_for(lambda: len(running(plane.data)) == 2 and running(plane.data), 30, "two replica processes")


def test_ctrl_c_stops_the_replicas_bosun_up_started_unless_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kept = Up(data, "--keep-replicas").start()
    try:
        before = ready_replicas(kept)
        assert ctrl_c(kept) == 0
        assert {r["pid"] for r in running(data).values()} == {r["pid"] for r in before.values()}
    finally:
        kept.stop()
    plane = Up(data).start()
    try:
        adopted = ready_replicas(plane)  # the next `bosun up` adopts what the last one left running
        assert {r["pid"] for r in adopted.values()} == {r["pid"] for r in before.values()}
        assert ctrl_c(plane) == 0
        assert running(data) == {}, "replicas survived Ctrl-C on bosun up"
    finally:
        plane.stop()
        end_all(data)
