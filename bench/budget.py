"""`bosun bench budget`: what one converged deployment costs, per component, in CPU µs and in messages.

A real `bosun up`; a burst of N deployments over NATS intents (no ceiling run: it would load the same
nats-server); then, once the log is quiet (no new message, no consumer with anything pending), each
process's CPU time since just before the burst, read from /proc/<pid>/stat (utime + stime), divided by N.
Processes are found by the plane's session id (`bosun up` runs in a session of its own) and named by
their command line. The messages: how many the stream gained, by subject slice (`bosun.ev.<kind>.*.*.obs`),
and how many its durable consumers delivered (each consumer's delivered count, redeliveries included).

`--py-spy DIR` also samples each Python component with py-spy (`pip install py-spy`; root or ptrace
rights) for the burst and writes its folded stacks to DIR; the controller's share spent in the GpuPool's
code (frames under `actors/gpupool/` or `actors/capacity`) is reported as the pool's part of its CPU.
"""
from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import nats.js.errors

from bench.burst import run_burst
from bench.plane import Plane
from core.log import inbox_prefix

TICK = os.sysconf("SC_CLK_TCK")
COMMANDS = ("gateway", "controller", "projector", "driver", "up", "archiver")
KV_BUCKETS = ("bosun-snapshots", "bosun-checkpoints", "bosun-leases")
POOL_FRAMES = re.compile(r"actors/gpupool/|actors/capacity")


def component(cmdline: list[str]) -> str | None:
    """`nats-server`, `gateway`, `controller` (`controller-<kinds>` for a separate one), `driver-sim`..."""
    if not cmdline:
        return None
    if Path(cmdline[0]).name == "nats-server":
        return "nats-server"
    for i, arg in enumerate(cmdline):
        if arg in COMMANDS:
            if arg == "driver" and i + 1 < len(cmdline):
                return f"driver-{cmdline[i + 1]}"
            if arg == "controller" and "--kinds" in cmdline:
                return f"controller-{cmdline[cmdline.index('--kinds') + 1].replace(',', '-')}"
            return "supervisor" if arg == "up" else arg
    return None


def plane_processes(sid: int) -> dict[int, str]:
    """pid -> component of every process in the session `sid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) != sid:  # fields after the command: state ppid pgrp session ...
            continue
        name = component([c.decode(errors="replace") for c in cmdline if c])
        if name is not None:
            found[int(entry.name)] = name
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of the whole line)


def slice_of(subject: str) -> str:
    """`bosun.ev.modeldeployment.bench.d7.ctl.md` -> `ev.modeldeployment.*.*.ctl.md`; commands likewise."""
    parts = subject.split(".")
    if parts[:2] == ["bosun", "ev"] and len(parts) >= 5:
        return ".".join(["ev", parts[2], "*", "*", *parts[5:]])
    if parts[:2] == ["bosun", "cmd"] and len(parts) >= 6:
        return ".".join(["cmd", parts[2], parts[3], "*", "*", *parts[6:]])
    return ".".join(parts[1:3]) + ".*"


async def log_counts(url: str) -> dict[str, Any]:
    """Messages in the stream by slice, and every durable consumer's deliveries and backlog."""
    nc = await nats.connect(url, inbox_prefix=inbox_prefix(url))
    try:
        jsm = nc.jsm()
        info = await jsm.stream_info("BOSUN", subjects_filter=">")
        slices: Counter[str] = Counter()
        for subject, count in (info.state.subjects or {}).items():
            slices[slice_of(subject)] += count
        consumers = {}
        for c in await jsm.consumers_info("BOSUN"):
            consumers[c.name] = {"delivered": int(c.delivered.consumer_seq or 0) if c.delivered else 0,
                                 "pending": int(c.num_pending or 0) + int(c.num_ack_pending or 0)}
        for bucket in KV_BUCKETS:
            try:
                kv = await jsm.stream_info(f"KV_{bucket}")
            except nats.js.errors.NotFoundError:
                continue
            slices[f"kv:{bucket}"] = int(kv.state.last_seq)  # puts, whatever the history kept
        return {"messages": int(info.state.messages), "slices": dict(slices.most_common()),
                "consumers": consumers}
    finally:
        await nc.close()


async def quiet(url: str, settle: float = 1.0, timeout: float = 60.0) -> dict[str, Any]:
    """The log counts once nothing changed for `settle` seconds and no consumer has anything pending."""
    deadline = time.monotonic() + timeout
    last, since = await log_counts(url), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = await log_counts(url)
        if now["messages"] != last["messages"] or any(c["pending"] for c in now["consumers"].values()):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            return now
    return last


def start_py_spy(pids: dict[int, str], out: Path) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    started = []
    for pid, name in pids.items():
        if name == "nats-server":
            continue
        path = out / f"{name}-{pid}.folded"
        # --gil: only the thread holding the GIL, i.e. Python on a CPU (a thread waiting for the GIL, like
        # the watchdog's after each sleep, is not work); --nonblocking: never pause the process sampled.
        proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--gil",
                                 "--nonblocking", "--output", str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append((name, path, proc))
    return started


def stop_py_spy(started: list[tuple[str, Path, subprocess.Popen[bytes]]]) -> dict[str, float]:
    """Stop the samplers; per component the share of its samples inside the GpuPool's code."""
    shares: dict[str, float] = {}
    for name, path, proc in started:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if path.exists():
            total = pool = 0
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if count.isdigit():
                    total += int(count)
                    pool += int(count) if POOL_FRAMES.search(stack) else 0
            if total:
                shares[name] = round(pool / total, 4)
    return shares


def sample_history(plane: Plane) -> list[str]:
    """`slice type` of every message in one converged deployment's history (d0), in log order."""
    import httpx

    r = httpx.get(f"{plane.url}/v1/namespaces/bench/modeldeployments/d0/history",
                  headers={"Authorization": f"Bearer {plane.token}"}, params={"limit": 100}, timeout=30)
    r.raise_for_status()
    return [f"{item.get('slice')} {item.get('type')}" for item in r.json().get("items", [])]


async def _apply(plane: Plane, manifest: dict[str, Any]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}) as http:
        name, ns = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        (await http.put(f"/v1/namespaces/{ns}/gpupools/{name}", json=manifest)).raise_for_status()


def run_budget(n: int, timeout: float, py_spy: Path | None, nodes: int = 0) -> dict[str, Any]:
    """`nodes`: over a pool of that many simulated nodes, measured once they all count in its capacity."""
    from bench.burst import NODE_POOL, node_gpus, wait_pool
    from bench.loop import run

    args = ("--sim-nodes", str(nodes), "--sim-node-gpus", str(node_gpus(n, nodes))) if nodes else ()
    with Plane(*args) as plane:
        assert plane.proc is not None
        if nodes:
            run(_apply(plane, NODE_POOL))
            run(wait_pool(plane, nodes * node_gpus(n, nodes)))
        before_counts = run(quiet(plane.internal_nats, settle=0.5))
        pids = plane_processes(plane.proc.pid)
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        spies = start_py_spy(pids, py_spy) if py_spy else []
        t0 = time.monotonic()
        burst = run(run_burst(plane, n, "nats", timeout, nodes))
        after = run(quiet(plane.internal_nats))
        wall = time.monotonic() - t0
        cpu1 = {pid: cpu_seconds(pid) for pid in pids}
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        pool_share = stop_py_spy(spies) if spies else {}
        history = sample_history(plane)
    per: Counter[str] = Counter()
    for pid, name in pids.items():
        per[name] += cpu1[pid] - cpu0[pid]
    per["bench client"] = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    budget = {name: {"cpu_seconds": round(s, 2), "us_per_resource": round(s / n * 1e6)}
              for name, s in sorted(per.items(), key=lambda kv: -kv[1])}
    if "controller" in pool_share and "controller" in per:
        pool_s = per["controller"] * pool_share["controller"]
        budget["  of which pool (py-spy)"] = {"cpu_seconds": round(pool_s, 2),
                                             "us_per_resource": round(pool_s / n * 1e6)}
    plane_cpu = sum(s for name, s in per.items() if name != "bench client")
    appended = after["messages"] - before_counts["messages"]
    delivered = sum(c["delivered"] for c in after["consumers"].values()) - sum(
        c["delivered"] for c in before_counts["consumers"].values())
    slices = Counter(after["slices"])
    slices.subtract(before_counts["slices"])
    return {"n": n, "all_ready_seconds": burst["all_ready_seconds"], "quiet_after_seconds": round(wall, 2),
            "load_before": round(os.getloadavg()[0], 2), "cpu": budget,
            "plane_cpu_us_per_resource": round(plane_cpu / n * 1e6),
            "plane_cpu_cores_busy": round(plane_cpu / wall, 2),
            "appended": appended, "appended_per_resource": round(appended / n, 2),
            "delivered": delivered, "delivered_per_resource": round(delivered / n, 2),
            "appended_by_slice_per_resource": {k: round(v / n, 3) for k, v in slices.most_common() if v},
            "delivered_by_consumer_per_resource": {
                k: round((v["delivered"] - before_counts["consumers"].get(k, {"delivered": 0})["delivered"]) / n, 2)
                for k, v in after["consumers"].items()},
            "pool_share_of_samples": pool_share, "history_of_d0": history}
