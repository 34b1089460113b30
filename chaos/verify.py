"""What the checker compares the ledger with: the final read model, the data plane's ledger, a rebuild."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from chaos.door import Door
from chaos.ledger import ABSENT
from chaos.load import NAMESPACE
from dataplane.sim.store import world_summary


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


def settled(obj: dict[str, Any]) -> bool:
    st, md = obj.get("status") or {}, obj["metadata"]
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
    return ready and st.get("phase") != "Deleting" and st.get("observedGeneration") == md.get("generation")


async def converge(door: Door, timeout: float, ns: str = NAMESPACE) -> tuple[float | None, dict[str, int]]:
    """Wait until every deployment is Ready at its generation (deleted ones gone); (seconds, final values).

    Seconds is None when it did not converge within `timeout`; the values are then the last seen.
    """
    t0 = time.monotonic()
    values: dict[str, int] = {}
    while True:
        items = await listing(door, ns)
        if items is not None:
            values = {n: int(o["spec"]["replicas"]) for n, o in items.items()}
            if all(settled(o) for o in items.values()):
                return time.monotonic() - t0, values
        if time.monotonic() - t0 > timeout:
            return None, values
        await asyncio.sleep(0.1)


def data_plane(data: Path) -> tuple[list[str], list[str]]:
    """(replica ids started more than once, over-allocated pools), from the sim driver's durable world."""
    summary = world_summary(data)
    return list(summary["double_started"]), list(summary["overallocated"])


def _comparable(items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {n: {"spec": o["spec"], "generation": o["metadata"].get("generation"),
                "resourceVersion": o["metadata"].get("resourceVersion"), "status": o.get("status")}
            for n, o in items.items()}


async def rebuild_matches(door: Door, ns: str = NAMESPACE) -> list[str]:
    """Rebuild the read model from sequence 1; names whose projection differs from the live one."""
    before = await listing(door, ns)
    answer = await door.http.post("/v1/projections/rebuild", timeout=120)
    after = await listing(door, ns)
    if answer.status_code != 200 or before is None or after is None:
        return [f"rebuild failed: {answer.status_code} {answer.text[:200]}"]
    a, b = _comparable(before), _comparable(after)
    return sorted(f"{n}: {_differing(a.get(n), b.get(n))}" for n in set(a) | set(b) if a.get(n) != b.get(n))


def _differing(live: dict[str, Any] | None, rebuilt: dict[str, Any] | None) -> str:
    """Which fields differ, with both values (what a report needs to tell a lagging projection from a wrong
    one)."""
    if live is None or rebuilt is None:
        return "only live" if rebuilt is None else "only rebuilt"
    return "; ".join(f"{k} live={live.get(k)!r} rebuilt={rebuilt.get(k)!r}"
                     for k in sorted(set(live) | set(rebuilt)) if live.get(k) != rebuilt.get(k))[:2000]


def final_values(values: dict[str, int], names: list[str]) -> dict[str, int]:
    return {n: values.get(n, ABSENT) for n in names}
