"""Replicas as data (pure): what the log says about each replica of a resource, folded one message at a time.

A replica is where it runs (pool, driver, node, pid, port, devices), its state (requested -> starting ->
ready -> stopping -> stopped | lost, or restarting after a failed start), when it was asked for, started
and became ready, and its last error. `fold` reads the `replica.*` commands (`bosun.cmd.<driver>.…`: they
name the driver) and observations (the `obs` slice). The table that keeps the rows is
`projections.replica_table`.
"""
from __future__ import annotations

from typing import Any

import msgspec

from core import headers as H
from core.stored import StoredMessage
from projections.reducer import rfc3339

STARTS = ("replica.start", "replica.start-process")
ENDED = ("stopped", "lost")
Resource = tuple[str, str, str]
"""(kind key, namespace, name)"""


class Replica(msgspec.Struct, kw_only=True, rename="camel"):
    """A replica as the log tells it; times are stream times (epoch seconds), None until they happen."""

    replica: str
    pool: str = ""
    driver: str = ""
    node: str = ""
    pid: int | None = None
    port: int | None = None
    devices: tuple[str, ...] = ()
    gpus: int = 0
    model: str = ""
    generation: int = 0
    state: str = "requested"
    requested_at: float | None = None
    started_at: float | None = None
    ready_at: float | None = None
    ended_at: float | None = None
    last_error: str = ""
    attempts: int = 0
    """Failed starts in a row (the driver retries them with backoff)."""


class Body(msgspec.Struct, kw_only=True, rename="camel"):
    """The fields any `replica.*` command or observation may carry (the rest of a body is ignored)."""

    replica: str = ""
    pool: str = ""
    gpus: int = 0
    model: str = ""
    generation: int = 0
    node: str = ""
    pid: int = 0
    port: int = 0
    devices: tuple[str, ...] = ()
    reason: str = ""
    attempt: int = 0


def fold(row: Replica | None, type_: str, body: Body, at: float, driver: str = "") -> Replica | None:
    """The replica after one command (`driver` set: it came on that driver's command subject) or observation.

    None when the message says nothing about a replica this table knows or should know.
    """
    if not body.replica:
        return row
    if type_ in STARTS:
        if row is not None and row.state not in ENDED:
            return msgspec.structs.replace(row, driver=row.driver or driver, gpus=body.gpus, model=body.model,
                                           generation=body.generation)
        return Replica(replica=body.replica, pool=body.pool, driver=driver, gpus=body.gpus, model=body.model,
                       generation=body.generation, requested_at=at)
    current = row if row is not None else Replica(replica=body.replica, pool=body.pool, driver=driver)
    match type_:
        case "replica.stop":
            return current if current.state in ENDED else msgspec.structs.replace(current, state="stopping")
        case "replica.started":
            return _started(current, body, at)
        case "replica.ready":
            if current.state in ENDED or current.state == "stopping":
                return current
            return msgspec.structs.replace(current, state="ready", ready_at=current.ready_at or at, attempts=0)
        case "replica.start-failed":
            return msgspec.structs.replace(current, state="restarting", last_error=body.reason,
                                           attempts=body.attempt, pid=None, port=None, started_at=None)
        case "replica.stopped":
            if current.state in ENDED:
                return current
            return msgspec.structs.replace(current, state="stopped", ended_at=at)
        case "replica.lost":
            if current.state == "lost":
                return current
            return msgspec.structs.replace(current, state="lost", ended_at=current.ended_at or at,
                                           last_error=body.reason or current.last_error)
    return row


def _started(row: Replica, body: Body, at: float) -> Replica:
    """A process (or sim slot) exists; where it runs when the driver said so (a re-report without it keeps
    what is known)."""
    if row.state in ENDED or row.state == "stopping":
        return row
    return msgspec.structs.replace(
        row, state="ready" if row.state == "ready" else "starting",
        started_at=row.started_at if row.started_at is not None else at,
        pool=body.pool or row.pool, node=body.node or row.node,
        pid=body.pid or row.pid, port=body.port or row.port, devices=body.devices or row.devices)


def message_of(m: StoredMessage) -> tuple[Resource, str, str] | None:
    """(resource, event type, driver) of a message that concerns replicas: a `replica.*` command, or an
    observation on an `obs` slice; None for everything else. The replica id is in the body."""
    type_ = m.headers.get(H.TYPE, "")
    if not type_.startswith("replica."):
        return None
    parts = m.subject.split(".")
    if len(parts) == 6 and parts[1] == "cmd":
        return (parts[3], parts[4], parts[5]), type_, parts[2]
    if len(parts) == 6 and parts[1] == "ev" and parts[5] == "obs":
        return (parts[2], parts[3], parts[4]), type_, ""
    return None


def to_api(row: Replica) -> dict[str, Any]:
    """The API item: times as RFC 3339 (like `metadata.createdAt`), unknown ones null."""
    item: dict[str, Any] = msgspec.to_builtins(row)
    item["devices"] = list(row.devices)
    for key in ("requestedAt", "startedAt", "readyAt", "endedAt"):
        if item.get(key) is not None:
            item[key] = rfc3339(item[key])
    return item


def numbered(replica: str) -> tuple[str, int]:
    """Sort key putting chat-2 before chat-10."""
    head, _, tail = replica.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (replica, 0)
