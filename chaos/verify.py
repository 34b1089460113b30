"""What the checker compares the ledger with: the final read model, the data plane's ledger, a rebuild."""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from chaos import asked, logread
from chaos.door import Door
from chaos.ledger import ABSENT
from chaos.load import NAMESPACE
from dataplane.base.ledger import delivered_starts
from dataplane.process import store as process_store
from dataplane.sim import store as sim_store


async def listing(door: Door, ns: str = NAMESPACE) -> dict[str, dict[str, Any]] | None:
    """Every deployment of `ns` by name (None when the gateway does not answer)."""
    items: dict[str, dict[str, Any]] = {}
    token: str | None = None
    while True:
        answer = await door.get(f"/v1/namespaces/{ns}/modeldeployments?limit=1000"
                                + (f"&continue={token}" if token else ""))
        if answer.status != 200:
            return None
        for obj in answer.body["items"]:
            items[obj["metadata"]["name"]] = obj
        token = answer.body.get("continue")
        if not token:
            return items


Pools = Mapping[str, int | None]
"""Free GPUs each GpuPool shows now, by name (`free_now`); None when that cannot be told (its status lags its
spec, it is being deleted, or two namespaces hold a pool of that name)."""


async def free_now(door: Door) -> Pools | None:
    """`Pools` from the read model (None when the gateway does not answer)."""
    answer = await door.get("/v1/gpupools?limit=1000")
    if answer.status != 200 or not isinstance(answer.body, dict):
        return None
    return free_gpus(answer.body["items"])


def free_gpus(items: list[dict[str, Any]]) -> Pools:
    """`Pools` of a GpuPool listing."""
    found: dict[str, int | None] = {}
    for obj in items:
        name, st, md = obj["metadata"]["name"], obj.get("status") or {}, obj["metadata"]
        current = st.get("observedGeneration") == md.get("generation") and st.get("phase") != "Deleting"
        free = st.get("freeGpus")
        found[name] = int(free) if name not in found and current and isinstance(free, int) else None
    return found


def settled(obj: dict[str, Any], pools: Pools = MappingProxyType({})) -> bool:
    """At its generation and as far as capacity allows: Ready, or waiting for capacity with every replica
    it placed ready — a full pool is a steady state, not a failure to converge (`full`, judged against
    `pools`: with none given, only Ready counts)."""
    st, md = obj.get("status") or {}, obj["metadata"]
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
    placed = sum((st.get("replicasByPool") or {}).values())
    waiting = full(st, pools) and st.get("readyReplicas") == placed
    return (ready or waiting) and st.get("phase") != "Deleting" and st.get("observedGeneration") == md.get("generation")


_NEEDS = re.compile(r"^insufficient capacity for \d+ more replica\(s\) of (\d+) ")
_FREE = re.compile(r"([^\s(,]+): (\d+) free")


def full(status: dict[str, Any], pools: Pools) -> bool:
    """Unschedulable because every matching pool is too full for one more replica — as the pools show NOW.

    The deployment's `Scheduled` condition names each matching pool with its free GPUs, but only as of its
    last look: a waiting deployment looks again on a timer (up to ~5 s, `actors.modeldeployment.model.
    _requeue`), not when a pool frees capacity. Believing the message made `converge` return while a pool
    had just been freed (a deletion's release): the deployment then scaled up after the live listing, and
    the rebuild compared with it showed the newer status — the cluster chaos "projection ≠ rebuild". So
    each named pool must show, now, the very count the message states (the deployment is current with it),
    and too few for one more replica."""
    scheduled = next((c for c in status.get("conditions", []) if c["type"] == "Scheduled"), None)
    if scheduled is None or scheduled["status"] != "False":
        return False
    needs = _NEEDS.match(scheduled["message"])
    stated = [(name, int(n)) for name, n in _FREE.findall(scheduled["message"])]
    return needs is not None and bool(stated) and all(
        free < int(needs.group(1)) and pools.get(name) == free for name, free in stated)


async def converge(door: Door, timeout: float, ns: str = NAMESPACE) -> tuple[float | None, dict[str, int]]:
    """Wait until every deployment is settled at its generation (deleted ones gone) and the read model has
    caught up with the log; (seconds, final values).

    Why the catch-up too: the read model shows a write only once projected, and an older generation that
    is Ready looks settled — a write landing late (a request the gateway took while the nats-server was
    restarting) was missed that way, and the projection then differed from a rebuild.
    Seconds is None when it did not converge within `timeout`; the values are then the last seen.
    """
    t0 = time.monotonic()
    values: dict[str, int] = {}
    while True:
        items, free = await listing(door, ns), await free_now(door)  # pools after: a release since is seen
        if items is not None:
            values = {n: int(o["spec"]["replicas"]) for n, o in items.items()}
            if free is not None and all(settled(o, free) for o in items.values()) and await caught_up(door):
                again, free = await listing(door, ns), await free_now(door)  # what the caught-up read model shows
                if again is not None and free is not None and all(settled(o, free) for o in again.values()):
                    return time.monotonic() - t0, {n: int(o["spec"]["replicas"]) for n, o in again.items()}
        if time.monotonic() - t0 > timeout:
            return None, values
        await asyncio.sleep(0.1)


async def caught_up(door: Door) -> bool:
    """`/readyz` says the read model is not behind the log (lag 0)."""
    answer = await door.get("/readyz")
    return answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("lag") == 0


def data_plane(data: Path) -> tuple[list[str], list[str]]:
    """(replica ids started more than once, over-allocated pools), from the sim driver's durable world."""
    summary = sim_store.world_summary(data)
    return list(summary["double_started"]), list(summary["overallocated"])


def driver_ledgers(data: Path) -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """Every start command handed to a driver (before its dedup) and every real start, from each driver's
    database under `data` (the sim's and, when it ran, the process driver's)."""
    delivered: list[tuple[str, int, int]] = []
    started: dict[str, int] = {}
    for path, opened in ((sim_store.db_path(data), sim_store.opened),
                         (process_store.home(data) / "state.db", process_store.opened)):
        if not path.exists():
            continue
        with opened(data) as conn:
            delivered += delivered_starts(conn)
            for row in conn.execute("SELECT token, replica, n FROM starts"):
                started[f"{row[0]}/{row[1]}"] = started.get(f"{row[0]}/{row[1]}", 0) + int(row[2])
    return delivered, started


async def promises(data: Path, url: str | None = None) -> tuple[asked.Allocation, asked.Actuation]:
    """The allocation and actuation checkers over the whole log and the drivers' ledgers under `data`."""
    records = logread.records(await logread.messages(data, url))
    delivered, started = driver_ledgers(data)
    return asked.allocation(records), asked.actuation(records, delivered, started)


def _comparable(items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {n: {"spec": o["spec"], "generation": o["metadata"].get("generation"),
                "resourceVersion": o["metadata"].get("resourceVersion"), "status": o.get("status")}
            for n, o in items.items()}


async def rebuild_matches(door: Door, ns: str = NAMESPACE, late: frozenset[str] = frozenset(),
                          settle: float = 5.0, tries: int = 3) -> list[str]:
    """Rebuild the read model from sequence 1; names whose projection differs from the live one.

    `late`: resources whose last request has an unknown outcome. Such a write may still land after its
    client gave up (the door waits 10 s, the gateway rides an election for up to 15 s), between the live
    listing and the rebuild — seen in the suite after a nats-server kill, the rebuild one generation
    ahead. When every difference is such a resource, the comparison is made again (a fresh listing, a
    fresh rebuild), up to `tries` times: a late write lands once. Any other difference is reported at once.
    """
    diff: list[str] = []
    for _ in range(tries):
        before = await listing(door, ns)
        answer = await door.http.post("/v1/projections/rebuild", timeout=120)
        if answer.status_code != 200 or before is None:
            return [f"rebuild failed: {answer.status_code} {answer.text[:200]}"]
        a, deadline = _comparable(before), time.monotonic() + settle
        while True:
            after = await listing(door, ns)
            b = _comparable(after) if after is not None else {}
            if (after is not None and a == b) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        names = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
        diff = [f"{n}: {_differing(a.get(n), b.get(n))}" for n in names]
        if not names or not set(names) <= late:
            return diff
    return diff


def _differing(live: dict[str, Any] | None, rebuilt: dict[str, Any] | None) -> str:
    """Which fields differ, with both values (what a report needs to tell a lagging projection from a wrong
    one)."""
    if live is None or rebuilt is None:
        return "only live" if rebuilt is None else "only rebuilt"
    return "; ".join(f"{k} live={live.get(k)!r} rebuilt={rebuilt.get(k)!r}"
                     for k in sorted(set(live) | set(rebuilt)) if live.get(k) != rebuilt.get(k))[:2000]


def final_values(values: dict[str, int], names: list[str]) -> dict[str, int]:
    return {n: values.get(n, ABSENT) for n in names}
