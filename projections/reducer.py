"""The pure reducer: one stored message (and its decoded event) in, one resource row out.

Both the live projector and the gateway's time travel (`GET ...?at=<seq>`) fold with `fold`, so the
object a client reads "now" and "as of seq N" can never disagree. No I/O and no clock: every fact
(times, sequences) comes from the message itself.

Time travel in the gateway:

    row = None
    async for m in log.read(subjects.resource_events(ref), up_to_seq=seq):
        row = fold(row, m, decode(m))
    obj = None if row is None else to_api(row)

Every function is handed the process's registry (`actors.registry.load`): a kind it does not know reads as
undecodable.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec.structs import replace

from actors.controller import DEFAULT, Registry
from core import codec, subjects
from core.events import (
    Condition,
    DeletionRequested,
    Event,
    FinalizerRemoved,
    ReconcileFailed,
    RetryRequested,
    SpecApplied,
    StatusUpdated,
)
from core.kinds import KindInfo
from core.names import CLUSTER_NS, Ref
from projections import companions

if TYPE_CHECKING:
    from core.stored import StoredMessage

CTL_PREFIX = "ctl."
PENDING = "Pending"
READY = "Ready"


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """Everything projections keep about one live resource: the API object's facts plus what the
    next fold needs (pending finalizers, condition transition seqs)."""

    kind: str  # kind key (lowercase singular)
    namespace: str
    name: str
    generation: int = 0
    resource_version: int = 0
    created_at: float = 0.0
    labels: dict[str, str] = {}
    spec: dict[str, Any] = {}
    phase: str = PENDING
    observed_generation: int = 0
    conditions: tuple[Condition, ...] = ()
    fields: dict[str, Any] = {}
    deletion_requested: bool = False
    finalizers: tuple[str, ...] = ()
    """Finalizers of the kind not yet removed; when deletion is requested and none remain, the row goes."""
    last_seq: int = 0
    """Stream sequence of the last message that changed this row."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


def decode(message: StoredMessage, registry: Registry = DEFAULT) -> Event | None:
    """The message's event, or None when its subject, kind or body is unknown or broken.

    Deliberately total: one bad message must never wedge a projection, so any decoding or upcasting
    failure is reported as None (the timeline then records it as "undecodable").
    """
    try:
        parsed = subjects.parse(message.subject)
    except ValueError:
        return None
    return decode_parsed(message, parsed, registry)


def decode_parsed(message: StoredMessage, parsed: subjects.Parsed, registry: Registry = DEFAULT) -> Event | None:
    """`decode` for a caller that already parsed the message's subject."""
    try:
        return codec.decode(registry.kind(parsed.ref.kind), message.data, message.headers)
    except Exception:  # noqa: BLE001 - unknown kind, bad JSON, schema mismatch or a faulty upcaster
        return None


def fold(row: Row | None, message: StoredMessage, event: Event | None, registry: Registry = DEFAULT) -> Row | None:
    """The row after `message`; returns `row` itself (same object) when the message changes nothing.

    Only spec-slice intent, ctl-slice StatusUpdated and ctl-slice FinalizerRemoved change a row;
    observations, commands, inbox traffic and narrative only go to the timeline.
    """
    if event is None:
        return row
    try:
        parsed = subjects.parse(message.subject)
    except ValueError:
        return row
    return fold_parsed(row, message, event, parsed, registry)


def fold_parsed(row: Row | None, message: StoredMessage, event: Event, parsed: subjects.Parsed,
                registry: Registry = DEFAULT) -> Row | None:
    """`fold` of a decoded event for a caller that already parsed the message's subject."""
    on_spec = parsed.slice == subjects.SPEC
    on_ctl = parsed.slice.startswith(CTL_PREFIX)
    match event:
        case SpecApplied() if on_spec:
            return _spec_applied(row, registry.resolve(parsed.ref.kind), parsed.ref, message, event)
        case DeletionRequested() if on_spec and row is not None:
            return _deletion_requested(row, message.seq, event)
        case StatusUpdated() if on_ctl and row is not None:
            return _status_updated(row, message.seq, event)
        case FinalizerRemoved() if on_ctl and row is not None:
            return _finalizer_removed(row, message.seq, event)
        case ReconcileFailed(outcome="quarantined") if on_ctl and row is not None:
            return _companion_quarantined(row, message.seq, parsed.slice[len(CTL_PREFIX):], event, registry)
        case RetryRequested() if row is not None:
            return _companion_lifted(row, message.seq)
    return row


def _companion_quarantined(row: Row, seq: int, controller: str, event: ReconcileFailed, registry: Registry) -> Row:
    """A companion's quarantine (`projections.companions`); the kind's own is in its status already."""
    info = registry.resolve(row.kind)
    if info is None or controller == info.controller:
        return row
    cond = _transition(companions.quarantined(controller, event), None, seq)
    return replace(row, conditions=companions.with_condition(row.conditions, cond), last_seq=seq)


def _companion_lifted(row: Row, seq: int) -> Row:
    conditions = companions.lifted(row.conditions)
    return row if conditions == row.conditions else replace(row, conditions=conditions, last_seq=seq)


def _spec_applied(row: Row | None, info: KindInfo | None, ref: Ref, message: StoredMessage,
                  event: SpecApplied) -> Row:
    if row is None or event.created:  # a new incarnation starts from nothing
        row = Row(kind=ref.kind, namespace=ref.namespace, name=ref.name, created_at=message.time,
                  finalizers=info.finalizers if info is not None else ())
    row = replace(row, generation=event.generation, resource_version=message.seq, labels=dict(event.labels),
                  spec=event.spec, last_seq=message.seq, conditions=companions.lifted(row.conditions))
    if info is not None and info.controller is None:  # nothing reconciles it: in effect the moment it is written
        row = replace(row, phase=READY, observed_generation=event.generation)
    return row


def _deletion_requested(row: Row, seq: int, event: DeletionRequested) -> Row | None:
    if not row.finalizers:
        return None
    return replace(row, deletion_requested=True, generation=event.generation, resource_version=seq, last_seq=seq)


def _finalizer_removed(row: Row, seq: int, event: FinalizerRemoved) -> Row | None:
    if not row.deletion_requested or event.finalizer not in row.finalizers:
        return row
    remaining = tuple(f for f in row.finalizers if f != event.finalizer)
    return None if not remaining else replace(row, finalizers=remaining, last_seq=seq)


def _status_updated(row: Row, seq: int, event: StatusUpdated) -> Row:
    before = {c.type: c for c in row.conditions}
    conditions = companions.kept(row.conditions, tuple(_transition(c, before.get(c.type), seq)
                                                       for c in event.conditions))
    new = replace(row, phase=event.phase, observed_generation=event.observed_generation, conditions=conditions,
                  fields=dict(event.fields), last_seq=seq)
    return row if replace(new, last_seq=row.last_seq) == row else new


def _transition(cond: Condition, before: Condition | None, seq: int) -> Condition:
    """Stamp lastTransitionSeq: actors leave it 0; the log position of the change is known only here."""
    unchanged = before is not None and (before.status, before.reason) == (cond.status, cond.reason)
    return replace(cond, last_transition_seq=before.last_transition_seq if unchanged and before else seq)


def to_api(row: Row, registry: Registry = DEFAULT) -> dict[str, Any]:
    """The exact API object `{kind, metadata, spec, status}` of a row (docs/design.md, "Status convention")."""
    info = registry.resolve(row.kind)
    metadata: dict[str, Any] = {"name": row.name}
    if row.namespace != CLUSTER_NS:
        metadata["namespace"] = row.namespace
    metadata.update(labels=dict(row.labels), generation=row.generation, resourceVersion=row.resource_version,
                    createdAt=rfc3339(row.created_at))
    if row.deletion_requested:
        metadata["deletionRequested"] = True
    metadata["finalizers"] = list(row.finalizers)
    status: dict[str, Any] = {
        "phase": row.phase, "observedGeneration": row.observed_generation,
        "conditions": [{"type": c.type, "status": c.status, "reason": c.reason, "message": c.message,
                        "lastTransitionSeq": c.last_transition_seq} for c in row.conditions],
    }
    for key, value in row.fields.items():
        status.setdefault(key, value)  # kind fields never shadow the convention's own keys
    return {"kind": info.name if info is not None else row.kind, "metadata": metadata, "spec": row.spec,
            "status": status}


def rfc3339(epoch: float) -> str:
    """UTC RFC 3339 with milliseconds, e.g. `2024-05-01T12:00:00.123Z`."""
    millis = int(epoch * 1000)
    seconds, ms = divmod(millis, 1000)
    prefix = _seconds.get(seconds)
    if prefix is None:  # events come in runs within the same second: format each second once
        if len(_seconds) >= _SECONDS_KEPT:
            _seconds.clear()
        prefix = _seconds[seconds] = f"{dt.datetime.fromtimestamp(seconds, tz=dt.UTC):%Y-%m-%dT%H:%M:%S}."
    return f"{prefix}{ms:03d}Z"


_SECONDS_KEPT = 4096
_seconds: dict[int, str] = {}
