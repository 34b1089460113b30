"""processes: N real replica processes started and Ready through `bosun up`, what they cost, and how fast
the autoscaler reacts to a load change (sim load, and load the process replicas report themselves).

Replicas are the stand-in model server (`examples/process/model_server.py`); CPU and memory come from
/proc. Every replica process is ended at the end (deletion, then a marker sweep whatever happened).
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.plane import Plane
from dataplane.process import fence, procs, store
from dataplane.sim.load import set_load

SERVER = str(Path(__file__).resolve().parents[1] / "examples" / "process" / "model_server.py")
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
"""An interpreter a replica's own user can run (as root, replicas drop to a uid of their namespace)."""
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def run_processes(plane: Plane, replicas: int, timeout: float) -> dict[str, Any]:
    http = httpx.Client(base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}, timeout=30)
    mark = str(store.home(plane.data))
    try:
        put(http, "infra", "gpupools", "local", {"region": "local", "gpu": "any", "driver": "process",
                                                 "devices": [str(i) for i in range(replicas + 4)],
                                                 "namespaces": ["bench"]})
        put(http, "infra", "gpupools", "sim", {"region": "sim", "gpu": "any", "capacity": 64,
                                                      "namespaces": ["*"]})
        started = _start(http, plane, replicas, timeout)
        cost = _footprint(mark, _driver_pid(plane.data))
        reaction = {"sim": _sim_reaction(http, plane, timeout), "process": _process_reaction(http, timeout)}
        stopped = _delete_all(http, mark, timeout)
        return {"replicas": replicas, **started, **cost, "autoscaler_reaction_seconds": reaction,
                "delete_to_all_exited_seconds": stopped}
    finally:
        for f in procs.scan(mark):
            procs.signal_group(f.identity, signal.SIGKILL)
        shutil.rmtree(fence.default(plane.data).root, ignore_errors=True)  # replicas' own directories
        http.close()


def put(http: httpx.Client, ns: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    r = http.put(f"/v1/namespaces/{ns}/{kind}/{name}", json={"metadata": {"name": name, "namespace": ns}, "spec": spec})
    r.raise_for_status()


def status(http: httpx.Client, name: str) -> dict[str, Any]:
    r = http.get(f"/v1/namespaces/bench/modeldeployments/{name}")
    return dict(r.json().get("status") or {}) if r.status_code == 200 else {}


def wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


def _ready(http: httpx.Client, name: str, n: int) -> Callable[[], bool]:
    return lambda: (s := status(http, name)).get("readyReplicas") == n and s.get("desiredReplicas") == n


def _start(http: httpx.Client, plane: Plane, n: int, timeout: float) -> dict[str, Any]:
    driver = _driver_pid(plane.data)
    cpu0 = _cpu(driver)
    put(http, "bench", "modeldeployments", "fleet", {
        "model": "tiny", "replicas": n, "placement": {"region": "local", "gpu": "any"},
        "command": [PYTHON, SERVER], "readiness": {"httpGet": {"path": "/healthz"}, "periodSeconds": 1}})
    seconds = wait(_ready(http, "fleet", n), timeout, f"{n} process replicas Ready")
    return {"apply_to_all_ready_seconds": round(seconds, 3), "replicas_ready_per_second": round(n / seconds, 1),
            "driver_cpu_seconds_for_start": round(_cpu(driver) - cpu0, 3)}


def _footprint(mark: str, driver: int, seconds: float = 5.0) -> dict[str, Any]:
    """Mean CPU (idle, readiness probed every second) and RSS per replica process, and what watching them
    costs the driver, over a few seconds."""
    pids = [f.identity.pid for f in procs.scan(mark)]
    before, driver_before = sum(_cpu(p) for p in pids), _cpu(driver)
    time.sleep(seconds)
    used = sum(_cpu(p) for p in pids) - before
    driver_used = _cpu(driver) - driver_before
    rss = [_rss(p) for p in pids]
    return {"replica_processes": len(pids),
            "cpu_percent_per_replica_idle": round(100 * used / seconds / max(1, len(pids)), 3),
            "rss_mib_per_replica": round(sum(rss) / max(1, len(rss)) / 2**20, 1),
            "driver_cpu_percent_steady": round(100 * driver_used / seconds, 2)}


def _sim_reaction(http: httpx.Client, plane: Plane, timeout: float) -> float:
    put(http, "bench", "modeldeployments", "autosim", {
        "model": "tiny", "replicas": 1, "placement": {"region": "sim", "gpu": "any"},
        "autoscaling": {"min": 1, "max": 8, "targetLoadPerReplica": 50}})
    wait(_ready(http, "autosim", 1), timeout, "autosim Ready")
    set_load(plane.data, "bench", "autosim", 300)  # ceil(300 / 50) = 6
    return round(wait(_ready(http, "autosim", 6), timeout, "autosim scaled to 6"), 3)


def _process_reaction(http: httpx.Client, timeout: float) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bosun-bench-load-"))
    folder.chmod(0o755)  # the replica's own user reads it
    load = folder / "rps"
    load.write_text("10")
    load.chmod(0o644)
    put(http, "bench", "modeldeployments", "autoproc", {
        "model": "tiny", "replicas": 1, "placement": {"region": "local", "gpu": "any"},
        "command": [PYTHON, SERVER], "env": {"LOAD_FILE": str(load)},
        "readiness": {"httpGet": {"path": "/healthz"}, "periodSeconds": 0.5},
        "autoscaling": {"min": 1, "max": 3, "targetLoadPerReplica": 50}})
    wait(_ready(http, "autoproc", 1), timeout, "autoproc Ready")
    load.write_text("120")  # one replica reporting 120 rps: 3 wanted
    return round(wait(_ready(http, "autoproc", 3), timeout, "autoproc scaled to 3"), 3)


def _delete_all(http: httpx.Client, mark: str, timeout: float) -> float:
    t0 = time.monotonic()
    for name in ("fleet", "autosim", "autoproc"):
        http.delete(f"/v1/namespaces/bench/modeldeployments/{name}").raise_for_status()
    wait(lambda: not any(True for _ in procs.scan(mark)), timeout, "every replica process exited")
    return round(time.monotonic() - t0, 3)


def _driver_pid(data: Path) -> int:
    needle = f"--data\0{data}".encode()
    for entry in procs.PROC.iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"driver\0process" in cmdline and needle in cmdline:
                return int(entry.name)
    return 0


def _cpu(pid: int) -> float:
    try:
        raw = (procs.PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _rss(pid: int) -> int:
    try:
        return int((procs.PROC / str(pid) / "statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0

