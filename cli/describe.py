"""`bosun describe`: "what is going on with X" as one human page.

Summary and spec, phase and conditions with since-when, readiness per pool, the replicas (node, pid, port,
devices: what `kill -9` needs), the last N timeline entries with the events that caused each, commands not
yet observed by their driver, and the trace id of the latest apply. `gather` makes a handful of indexed
read-model queries (the object, the tail of its timeline, its replicas, and point lookups), so it answers in
milliseconds on any store size.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from bosun.errors import NotFound
from cli.output import age, table, to_yaml

CONVENTION = ("phase", "observedGeneration", "conditions")
WINDOW = 500
"""Timeline entries read to match commands with observations and count ready replicas per pool."""
APPLIES = ["spec.applied", "deletion.requested"]
ENDED_SHOWN = 5
"""Stopped or lost replicas listed after the live ones (the latest first)."""


class Client(Protocol):
    def get(self, kind: str, name: str, *, namespace: str = ...) -> dict[str, Any]: ...

    def history(self, kind: str, name: str, *, namespace: str = ..., since: int | None = None,
                types: list[str] | None = None, limit: int | None = None) -> dict[str, Any]: ...

    def replicas(self, kind: str, name: str, *, namespace: str = ...) -> list[dict[str, Any]]: ...


@dataclass
class Facts:
    """What `render` shows beyond the object itself."""

    recent: list[dict[str, Any]]
    pending: list[dict[str, Any]] = field(default_factory=list)
    ready_by_pool: dict[str, int] = field(default_factory=dict)
    apply_trace: str | None = None
    seq_times: dict[int, str] = field(default_factory=dict)
    replicas: list[dict[str, Any]] = field(default_factory=list)


def gather(client: Client, kind: str, namespace: str, name: str, last: int = 10) -> tuple[dict[str, Any], Facts]:
    obj = client.get(kind, name, namespace=namespace)
    window = client.history(kind, name, namespace=namespace, limit=WINDOW)["items"]
    applies = [e for e in window if e.get("slice") == "spec"]
    if not applies:
        applies = client.history(kind, name, namespace=namespace, types=APPLIES, limit=1)["items"]
    seq_times = {int(e["seq"]): str(e.get("time", "")) for e in window}
    for cond in (obj.get("status") or {}).get("conditions") or []:
        seq = int(cond.get("lastTransitionSeq") or 0)
        if seq and seq not in seq_times:
            found = client.history(kind, name, namespace=namespace, since=seq - 1, limit=1)["items"]
            if found and int(found[0]["seq"]) == seq:
                seq_times[seq] = str(found[0].get("time", ""))
    return obj, Facts(recent=window[-last:], pending=pending_commands(window),
                      ready_by_pool=ready_by_pool(window, obj), seq_times=seq_times,
                      apply_trace=applies[-1].get("traceId") if applies else None,
                      replicas=replicas_of(client, kind, namespace, name))


def replicas_of(client: Client, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
    """The resource's replicas (`GET …/replicas`); none from a gateway that predates the route."""
    try:
        return client.replicas(kind, name, namespace=namespace)
    except NotFound:
        return []


def pending_commands(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Commands no observation names as its cause (drivers put the command's seq in `Bosun-Causes`)."""
    observed = {c for e in timeline if e.get("slice") == "obs" for c in e.get("causes") or ()}
    return [e for e in timeline if e.get("slice") == "cmd" and e["seq"] not in observed]


def ready_by_pool(timeline: list[dict[str, Any]], obj: dict[str, Any]) -> dict[str, int]:
    """Ready replicas per pool, folded from the observations in the window (exact when every placed
    replica is ready, by the status' own count)."""
    status = obj.get("status") or {}
    placed: dict[str, int] = status.get("replicasByPool") or {}
    if placed and status.get("readyReplicas") == sum(placed.values()):
        return dict(placed)
    replicas: dict[str, tuple[str, str]] = {}
    for e in timeline:
        data = e.get("data") or {}
        rid, pool = data.get("replica"), data.get("pool")
        if e.get("slice") != "obs" or not rid:
            continue
        if e.get("type") in ("replica.stopped", "replica.lost"):
            replicas.pop(rid, None)
        else:
            replicas[rid] = (str(pool), e.get("type", ""))
    ready: dict[str, int] = dict.fromkeys(placed, 0)
    for pool, state in replicas.values():
        if state == "replica.ready":
            ready[pool] = ready.get(pool, 0) + 1
    return ready


def render(obj: dict[str, Any], recent: list[dict[str, Any]] | Facts, now: float | None = None) -> str:
    now = time.time() if now is None else now
    facts = recent if isinstance(recent, Facts) else Facts(recent=recent)
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())) or "<none>"
    lines = [
        f"Name:             {meta.get('name', '')}",
        f"Namespace:        {meta.get('namespace', '')}",
        f"Kind:             {obj.get('kind', '')}",
        f"Labels:           {labels}",
        f"Generation:       {meta.get('generation', '')}",
        f"ResourceVersion:  {meta.get('resourceVersion', '')}",
        f"Created:          {meta.get('createdAt', '')} ({age(meta.get('createdAt'), now)} ago)",
        f"Phase:            {status.get('phase', '')} (observed generation {status.get('observedGeneration', '')})",
    ]
    if facts.apply_trace:
        lines.append(f"Last apply trace: {facts.apply_trace}")
    if meta.get("deletionRequested"):
        lines.append("Deletion:         requested")
    lines += ["Spec:", _indent(to_yaml(obj.get("spec") or {}))]
    extra = {k: v for k, v in status.items() if k not in CONVENTION}
    if extra:
        lines += ["Status:", _indent(to_yaml(extra))]
    conditions = [[c.get("type", ""), str(c.get("status", "")), c.get("reason", ""),
                   _since(c.get("lastTransitionSeq"), facts.seq_times, now), c.get("message", "")]
                  for c in status.get("conditions", [])]
    lines += ["Conditions:", _indent(table(["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], conditions))
              if conditions else "  <none>"]
    placed: dict[str, int] = status.get("replicasByPool") or {}
    if placed or facts.ready_by_pool:
        pools = sorted({*placed, *facts.ready_by_pool})
        rows = [[p, str(placed.get(p, 0)), str(facts.ready_by_pool.get(p, 0))] for p in pools]
        lines += ["Readiness by pool:", _indent(table(["POOL", "PLACED", "READY"], rows))]
    if facts.replicas:
        lines += ["Replicas:", _indent(replica_table(facts.replicas, now))]
    events = [[str(e.get("seq", "")), _ago(e.get("time"), now), e.get("slice", ""), e.get("type", ""),
               _causes(e), e.get("summary", "")] for e in facts.recent]
    lines += ["Recent events:", _indent(table(["SEQ", "AGE", "SLICE", "TYPE", "CAUSED-BY", "SUMMARY"], events))
              if events else "  <none>"]
    pend = [[str(e.get("seq", "")), _ago(e.get("time"), now), e.get("type", ""), e.get("summary", "")]
            for e in facts.pending]
    lines += ["Pending commands (not yet observed):",
              _indent(table(["SEQ", "AGE", "TYPE", "SUMMARY"], pend)) if pend else "  <none>"]
    return "\n".join(lines)


def replica_table(replicas: list[dict[str, Any]], now: float) -> str:
    """Live replicas, then the latest ENDED_SHOWN ended ones; AGE since started (else since asked for)."""
    live = [r for r in replicas if r.get("state") not in ("stopped", "lost")]
    ended = [r for r in replicas if r.get("state") in ("stopped", "lost")][:ENDED_SHOWN]
    rows = [[str(r.get("replica", "")), str(r.get("state", "")), r.get("node") or "-", str(r.get("pid") or "-"),
             str(r.get("port") or "-"), ",".join(r.get("devices") or ()) or "-", r.get("pool") or "-",
             _ago(r.get("startedAt") or r.get("requestedAt"), now) or "-", (r.get("lastError") or "")[:80]]
            for r in [*live, *ended]]
    return table(["REPLICA", "STATE", "NODE", "PID", "PORT", "DEVICES", "POOL", "AGE", "LAST ERROR"], rows)


def _causes(e: dict[str, Any]) -> str:
    causes = e.get("causes") or []
    if not causes:
        return "-"
    shown = ",".join(map(str, causes[-4:]))
    return ("…," if len(causes) > 4 else "") + shown


def _since(seq: Any, times: dict[int, str], now: float) -> str:
    if not seq:
        return ""
    when = times.get(int(seq))
    return f"seq {seq} ({age(when, now)} ago)" if when else f"seq {seq}"


def _ago(when: Any, now: float) -> str:
    return age(when, now) if when else ""


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.rstrip().splitlines())
