"""`bosun bench retention`: steady load on `bosun up --retain`, for minutes (issue #26).

What it shows: the stream's bytes reach a plateau (what ages out is archived and leaves), a cold restart of
the controller takes as long late in the run as early (it folds from its checkpoint, never the archive),
history reads of an archived range stay fast (p50/p99 of `GET .../history?since=0` of a resource whose
story is archived, and of `?at=` into it), and what archiving costs: the archiver's CPU per archived message.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.plane import Plane
from bench.stats import summary_ms
from supervisor import procs


def pool(name: str, capacity: int) -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": name, "namespace": "infra"},
            "spec": {"region": "us-west-2", "gpu": "a100", "capacity": capacity}}


class Load(threading.Thread):
    """Spec changes at a steady rate (each one followed by its controller's status)."""

    def __init__(self, plane: Plane, rate: float) -> None:
        super().__init__(daemon=True)
        self.plane = plane
        self.rate = rate
        self.stop = threading.Event()
        self.applied = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.plane.url, headers=_auth(self.plane), timeout=30) as api:
            start = time.monotonic()
            while not self.stop.is_set():
                due = start + self.applied / self.rate
                if (wait := due - time.monotonic()) > 0:
                    self.stop.wait(wait)
                n = self.applied
                api.put(f"/v1/namespaces/infra/gpupools/steady-{n % 50}", json=pool(f"steady-{n % 50}", 1 + n % 64))
                self.applied += 1


def _auth(plane: Plane) -> dict[str, str]:
    return {"Authorization": f"Bearer {plane.token}"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_restart(plane: Plane, api: httpx.Client, probe: int) -> float:
    """kill -9 the controller; seconds until a write made right after is reconciled (the supervisor
    restarts it, it restores snapshots and folds from its checkpoint)."""
    run = plane.data / "run"
    pid = procs.read_pidfile(run, "controller")
    assert pid is not None
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    name = f"probe-{probe}"
    generation = api.put(f"/v1/namespaces/infra/gpupools/{name}", json=pool(name, 1 + probe)).json()["generation"]
    while time.monotonic() - t0 < 120:
        r = api.get(f"/v1/namespaces/infra/gpupools/{name}")
        if r.status_code == 200 and r.json()["status"].get("observedGeneration") == generation:
            return round(time.monotonic() - t0, 3)
        time.sleep(0.05)
    raise RuntimeError("the controller did not come back within 120 s")


def history_reads(api: httpx.Client, first: int, reads: int) -> tuple[list[float], list[float]]:
    history, at = [], []
    for _ in range(reads):
        t0 = time.perf_counter()
        r = api.get("/v1/namespaces/infra/gpupools/archived/history", params={"since": 0, "limit": 100})
        history.append(time.perf_counter() - t0)
        assert r.status_code == 200 and r.json()["items"][0]["seq"] == first, r.text[:200]
        t0 = time.perf_counter()
        r = api.get("/v1/namespaces/infra/gpupools/archived", params={"at": first})
        at.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text[:200]
    return history, at


def run_retention(seconds: float, retain: str, rate: float, every: float, reads: int) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    restarts: list[dict[str, float]] = []
    history: list[float] = []
    at: list[float] = []
    with Plane("--retain", retain) as plane, httpx.Client(base_url=plane.url, headers=_auth(plane),
                                                          timeout=60) as api:
        first = api.put("/v1/namespaces/infra/gpupools/archived", json=pool("archived", 1)).json()["resourceVersion"]
        api.put("/v1/namespaces/infra/gpupools/archived", json=pool("archived", 2))
        load = Load(plane, rate)
        load.start()
        archiver = procs.read_pidfile(plane.data / "run", "archiver")
        assert archiver is not None
        t0 = time.monotonic()
        cpu0, archived0 = cpu_seconds(archiver), 0
        try:
            while (elapsed := time.monotonic() - t0) < seconds:
                time.sleep(min(every, max(0.0, seconds - elapsed)))
                info = api.get("/v1/log").json()
                sample = {"t": round(time.monotonic() - t0, 1), "stream_bytes": info["bytes"],
                          "stream_messages": info["messages"], "last_seq": info["lastSeq"],
                          "archive_messages": info["archive"]["messages"], "archive_bytes": info["archive"]["bytes"]}
                samples.append(sample)
                if info["archive"]["lastSeq"] >= first:
                    h, a = history_reads(api, first, reads)
                    history += h
                    at += a
                restarts.append({"t": sample["t"], "seconds": cold_restart(plane, api, len(restarts))})
            cpu = cpu_seconds(archiver) - cpu0
            archived = (samples[-1]["archive_messages"] if samples else 0) - archived0
        finally:
            load.stop.set()
            load.join(30)
    half = len(samples) // 2
    early = max((s["stream_bytes"] for s in samples[:half]), default=0)
    late = max((s["stream_bytes"] for s in samples[half:]), default=0)
    return {"seconds": seconds, "retain": retain, "rate": rate, "applied": load.applied, "samples": samples,
            "stream_bytes_late_vs_early": round(late / early, 2) if early else None,
            "cold_restarts": restarts, "history_archived": summary_ms(history), "at_archived": summary_ms(at),
            "history_reads": len(history), "archived_messages": archived, "archiver_cpu_seconds": round(cpu, 3),
            "archiver_cpu_us_per_message": round(cpu / archived * 1e6, 1) if archived else None}
