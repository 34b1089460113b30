"""The log as the allocation and actuation checkers see it: every pool capacity, grant, start and end.

Read straight from JetStream (the gateway's NATS user of the data directory, `chaos.nodes.internal_url`), decoded as
plain JSON by the events' wire tags — not through Bosun's kinds, actors or read model, so the checkers
depend on nothing they check. `records` turns the messages into `chaos.asked.Record`s.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chaos import nodes
from chaos.asked import Record
from core import headers as H
from core import log as corelog
from core.stored import StoredMessage

ALL = "bosun.>"
STARTS = ("replica.start", "replica.start-process")
ENDS = ("replica.stopped", "replica.lost")


async def messages(data: Path, url: str | None = None) -> list[StoredMessage]:
    """Every message of the stream, in order (through its last sequence when asked); `url`: another way in
    than the internal user of the tree under `data`."""
    nc = await corelog.connect(url or nodes.internal_url(data), "bosun-chaos-log")
    try:
        log = corelog.Log(nc)
        last = await log.last_seq()
        return [m async for m in log.read(ALL, 1, up_to_seq=last)]
    finally:
        await nc.close()


def records(stored: Iterable[StoredMessage]) -> list[Record]:
    found: list[Record] = []
    for m in stored:
        parts = m.subject.split(".")
        try:
            body: dict[str, Any] = json.loads(m.data)
        except ValueError:
            continue
        kind = body.get("type", "") if isinstance(body, dict) else ""
        if parts[1] == "ev" and parts[2] == "gpupool" and parts[-1] == "spec" and kind == "spec.applied":
            found.append(Record(m.seq, "capacity", f"{parts[3]}/{parts[4]}", gpus=_capacity(body["spec"])))
        elif parts[1] == "ev" and parts[2] == "gpupool" and kind in ("capacity.answered", "capacity.granted"):
            basis = m.headers.get(H.HWM, "")
            for a in body.get("answers", [body]):
                if a.get("type") == "capacity.granted":
                    found.append(Record(m.seq, "grant", a["pool"], a["requester"], gpus=int(a["gpus"]),
                                        basis=int(basis) if basis.isdigit() else 0))
        elif parts[1] == "cmd" and kind in STARTS:
            found.append(Record(m.seq, "start", body["pool"], ".".join(parts[3:6]), body["replica"],
                                int(body["gpus"])))
        elif parts[1] == "ev" and parts[-1] == "obs" and kind in ENDS:
            found.append(Record(m.seq, "end", body.get("pool", ""), ".".join(parts[2:5]), body["replica"]))
    return found


def _capacity(spec: dict[str, Any]) -> int:
    """GPUs in the pool: `capacity`, else one per listed device (the GpuPool contract)."""
    capacity = spec.get("capacity")
    return int(capacity) if capacity is not None else len(spec.get("devices") or ())
