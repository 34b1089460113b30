"""Decision replay: rebuild exactly the state each actor decided on, and re-run today's `decide` on it.

Pure (no I/O, no clock): the input is stored messages in stream order, from NATS or from a bundle.

The state a decision saw is rebuilt by the kernel the live host runs (`actors.kernel`): messages routed
to the actor (`kernel.targets`, `kernel.wanted`) are folded in stream order up to the decision's recorded
`Bosun-Hwm` (`kernel.fold`: own writes already folded are skipped); the actor's own writes (its ctl slice,
and inbox messages / commands whose `Bosun-From` is the actor) are folded right after the decision that
made them, as on ack (`kernel.own`). Consecutive own writes sharing (`Bosun-Hwm`, `Bosun-Time`) are one
decision; `kernel.decide(state, Bosun-Time, Bosun-Context)` today must produce the same writes
(`kernel.writes`). Writes with `Bosun-Origin: runtime` are folded, never checked.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from actors import kernel
from actors.controller import DEFAULT, Controller, Registry
from actors.decisions import Context, Decision, decode_context
from core import codec, subjects
from core import headers as H
from core.events import Event, ReconcileFailed
from core.names import Ref
from core.stored import StoredMessage

_MISSING: Any = None


class Recorded(NamedTuple):
    message: StoredMessage
    event: Event | None
    """None when the body is undecodable with today's types (reported, never fatal)."""


class Write(NamedTuple):
    """One append of a decision, as compared: where it went and its exact body."""

    subject: str
    type: str
    body: bytes
    summary: str
    key: str = ""
    """Dedup key (`Nats-Msg-Id`) of inbox messages and commands; not compared."""

    @property
    def compared(self) -> tuple[str, bytes]:
        return (self.subject, self.body)


class DecisionPoint(NamedTuple):
    ref: Ref
    seq: int
    """Stream sequence of the decision's first write."""
    hwm: int
    time: float
    context: Context
    state: Any
    recorded: tuple[Write, ...]
    known_ids: frozenset[str]
    """Msg-ids of the actor's earlier writes: a re-issued write JetStream deduplicated is no divergence."""


class Divergence(NamedTuple):
    ref: Ref
    seq: int
    hwm: int
    time: float
    recorded: tuple[Write, ...]
    now: tuple[Write, ...]
    error: str | None = None
    """Set when today's `decide` raised instead of deciding."""
    controller: str = ""
    """Set for a companion controller's decision (e.g. "autoscaler"); empty for the kind's own."""


class Step(NamedTuple):
    """One fold of `bosun replay`: the message and the state change it made."""

    seq: int
    subject: str
    type: str
    summary: str
    own: bool
    changes: list[tuple[str, Any, Any]]


# ---- decoding and routing -------------------------------------------------------------------------------


def decode(message: StoredMessage, registry: Registry = DEFAULT) -> Recorded:
    try:
        parsed = subjects.parse(message.subject)
        return Recorded(message, codec.decode(registry.kind(parsed.ref.kind), message.data, message.headers))
    except Exception:  # noqa: BLE001 - unknown kind, broken body or failing upcaster: the host skips it too
        return Recorded(message, None)


def targets(message: StoredMessage, registry: Registry = DEFAULT) -> list[Ref]:
    """The actors a message is delivered to: the host's routing rule."""
    try:
        owner = subjects.parse(message.subject).ref
    except ValueError:
        return []
    return kernel.targets(owner, message.headers, registry.hosted)


def route(messages: Iterable[Recorded], registry: Registry = DEFAULT) -> dict[Ref, list[Recorded]]:
    """Every actor's delivered messages, in stream order."""
    out: dict[Ref, list[Recorded]] = {}
    for rec in messages:
        for ref in targets(rec.message, registry):
            out.setdefault(ref, []).append(rec)
    return out


def is_own(ref: Ref, ctrl: Controller[Any], message: StoredMessage) -> bool:
    """Written by this actor: its ctl slice, or an inbox message / command it sent (`Bosun-From` names the
    resource; `Bosun-Controller` which of its actors, absent in the oldest recordings)."""
    hdrs = message.headers
    return message.subject == subjects.ctl(ref, ctrl.name) or (
        hdrs.get(H.SENDER) == ref.token and hdrs.get(H.CONTROLLER, ctrl.name) == ctrl.name)


def controllers_of(ref: Ref, registry: Registry = DEFAULT) -> list[Controller[Any]]:
    """The actors of one resource replay checks: the kind's own controller, then its companions."""
    return [ctrl for _key, ctrl in registry.actors_for(ref)]


def _delivered(ctrl: Controller[Any], routed: list[Recorded]) -> list[Recorded]:
    """What the live cell folded: a companion exists only from the first event it wants (`kernel.wanted`)."""
    if ctrl.wants is None:
        return routed
    first = next((i for i, r in enumerate(routed) if r.event is not None and kernel.wanted(ctrl, r.event, False)),
                 len(routed))
    return routed[first:]


# ---- reconstruction -----------------------------------------------------------------------------------


class _Group(NamedTuple):
    writes: list[Recorded]
    hwm: int | None
    time: float
    context: str | None
    runtime: bool


def _groups(ref: Ref, ctrl: Controller[Any], routed: list[Recorded]) -> list[_Group]:
    groups: list[_Group] = []
    for rec in routed:
        hdrs = rec.message.headers
        if not is_own(ref, ctrl, rec.message):
            continue
        runtime = hdrs.get(H.ORIGIN) == "runtime"
        hwm = int(hdrs[H.HWM]) if H.HWM in hdrs else None
        time = float(hdrs.get(H.TIME, rec.message.time))
        last = groups[-1] if groups else None
        if (last is not None and not runtime and not last.runtime and hwm is not None and last.hwm == hwm
                and last.time == time and H.CONTEXT not in hdrs):
            last.writes.append(rec)
        else:
            groups.append(_Group([rec], hwm, time, hdrs.get(H.CONTEXT), runtime))
    return groups


def _delivery(actor: kernel.Actor, rec: Recorded) -> bool:
    """Fold one routed message as the live cell did; False when it had been folded already (an own write)."""
    m = rec.message
    if rec.event is None:  # undecodable: the host never delivered it; shown, never folded
        return not actor.seen(m.seq)
    return kernel.fold(actor, m.seq, m.subject, rec.event) is not kernel.SEEN


def _own(actor: kernel.Actor, rec: Recorded) -> None:
    m = rec.message
    if rec.event is None:
        actor.own.add(m.seq)  # shown once: skipped when the routed messages reach it
    else:
        kernel.own(actor, m.seq, m.subject, rec.event)


def walk(ref: Ref, routed: list[Recorded], registry: Registry = DEFAULT,
         controller: Controller[Any] | None = None) -> Iterator[tuple[Recorded | DecisionPoint, Any]]:
    """The actor's life in the order its live cell lived it: (folded message or decision, state after).

    `registry` (every function here takes one) supplies today's controllers; the default is the one
    `actors.registry.load()` returns. `controller` picks a companion's actor (default: the kind's own)."""
    ctrl = controller or registry.controller_for(ref.kind)
    assert ctrl is not None, ref
    routed = _delivered(ctrl, routed)
    actor = kernel.Actor(ref, ctrl)
    ids: set[str] = set()
    i = 0
    for group in _groups(ref, ctrl, routed):
        if group.hwm is not None and not group.runtime:
            while i < len(routed) and routed[i].message.seq <= group.hwm:
                rec = routed[i]
                i += 1
                if _delivery(actor, rec):
                    yield rec, actor.state
            ctx = decode_context(group.context, registry.view_types()) if group.context else Context()
            writes = tuple(_write(r.message, r.event) for r in group.writes)
            yield DecisionPoint(ref, group.writes[0].message.seq, group.hwm, group.time, ctx, actor.state, writes,
                                frozenset(ids)), actor.state
        for rec in group.writes:
            if H.MSG_ID in rec.message.headers:
                ids.add(rec.message.headers[H.MSG_ID])
            _own(actor, rec)
            yield rec, actor.state
    for rec in routed[i:]:
        if _delivery(actor, rec):
            yield rec, actor.state


def state_at(ref: Ref, routed: list[Recorded], at: int | None = None, registry: Registry = DEFAULT) -> Any:
    """The actor's state after every routed message with seq <= `at` (all when None)."""
    ctrl = registry.controller_for(ref.kind)
    assert ctrl is not None, ref
    state = ctrl.initial(ref)
    for _item, after in walk(ref, [r for r in routed if at is None or r.message.seq <= at], registry):
        state = after
    return state


def steps(ref: Ref, routed: list[Recorded], at: int | None = None,
          registry: Registry = DEFAULT) -> Iterator[Step]:
    """`bosun replay`: the state change each message made, folded with today's `evolve`."""
    ctrl = registry.controller_for(ref.kind)
    assert ctrl is not None, ref
    before = codec.state_to_builtins(ctrl.initial(ref))
    for item, state in walk(ref, [r for r in routed if at is None or r.message.seq <= at], registry):
        if isinstance(item, DecisionPoint):
            continue
        after = codec.state_to_builtins(state)
        m = item.message
        yield Step(m.seq, m.subject, m.headers.get(H.TYPE, "unknown"), _summary(item.event),
                   is_own(ref, ctrl, m), changes(before, after))
        before = after


# ---- checking -----------------------------------------------------------------------------------------


def check(ref: Ref, routed: list[Recorded], registry: Registry = DEFAULT,
          guard: kernel.Guard | None = None) -> tuple[int, list[Divergence]]:
    """(decisions checked, divergences) of the resource's actors against today's `decide`: the kind's own
    controller and every companion (the autoscaler's recorded decisions are checked like the deployment's).

    `guard` runs each decide (the CLI passes `Watchdog.call`): a decide that overruns its budget today is
    reported as a quarantined decision instead of hanging the check."""
    checked, found = 0, []
    for ctrl in controllers_of(ref, registry):
        n, divs = _check_actor(ref, ctrl, routed, registry, guard)
        checked += n
        found += divs
    return checked, found


def _check_actor(ref: Ref, ctrl: Controller[Any], routed: list[Recorded], registry: Registry,
                 guard: kernel.Guard | None) -> tuple[int, list[Divergence]]:
    checked, found = 0, []
    for item, _ in walk(ref, routed, registry, ctrl):
        if not isinstance(item, DecisionPoint):
            continue
        checked += 1
        actor = kernel.Actor(ref, ctrl, item.state)
        actor.hwm = item.hwm
        outcome = kernel.decide(actor, item.time, item.context, guard=guard)
        if isinstance(outcome, kernel.Failure):  # a decide that raises today is a divergence, not a crash
            error = outcome.error
            text = (f"quarantined ({outcome.reason}): {error}" if outcome.reason in ("timeout", "memory")
                    else repr(error))
            found.append(Divergence(ref, item.seq, item.hwm, item.time, item.recorded, (), text, ctrl.companion))
            continue
        now = writes_of(actor, outcome)
        if not _same(item.recorded, now, item.known_ids):
            found.append(Divergence(ref, item.seq, item.hwm, item.time, item.recorded, now, None, ctrl.companion))
    return checked, found


class Quarantine(NamedTuple):
    """A decision the runtime did not let happen: the resource was quarantined (or failed terminally)."""

    ref: Ref
    seq: int
    summary: str


def quarantines(ref: Ref, routed: list[Recorded]) -> list[Quarantine]:
    """The runtime's quarantine (and terminal failure) records on this actor's own ctl slice."""
    found = []
    for rec in routed:
        ev = rec.event
        if (isinstance(ev, ReconcileFailed) and ev.outcome != "retry"
                and rec.message.headers.get(H.ORIGIN) == "runtime" and rec.message.subject.startswith(
                    f"bosun.ev.{ref.token}.ctl.")):
            found.append(Quarantine(ref, rec.message.seq, ev.summary()))
    return found


def writes_of(actor: kernel.Actor, decision: Decision) -> tuple[Write, ...]:
    """What the host appends for `decision`, in the kernel's order: ctl events, inbox messages, commands."""
    return tuple(_write_new(w.subject, w.event, w.key) for w in kernel.writes(actor, decision))


def _same(recorded: tuple[Write, ...], now: tuple[Write, ...], known: frozenset[str]) -> bool:
    was = [w.compared for w in recorded]
    if was == [w.compared for w in now]:
        return True
    # A re-issued write JetStream deduplicated (its msg-id was stored before) is missing from the record.
    return was == [w.compared for w in now if w.compared in was or not w.key or w.key not in known]


def _write_new(subject: str, event: Event, key: str | None) -> Write:
    return Write(subject, _tag(event), codec.encode(event), _summary(event), key or "")


def _write(message: StoredMessage, event: Event | None) -> Write:
    """A recorded write as compared: its exact body, or — written under an older schema of its type — the
    body today's code reads it as (upcast: the upcaster says what it means now)."""
    body = message.data
    if event is not None and message.headers.get(H.SCHEMA, str(type(event).version)) != str(type(event).version):
        body = codec.encode(event)
    return Write(message.subject, message.headers.get(H.TYPE, "unknown"), body, _summary(event),
                 message.headers.get(H.MSG_ID, ""))


def _summary(event: Event | None) -> str:
    if event is None:
        return "undecodable"
    try:
        return event.summary()
    except Exception:  # noqa: BLE001
        return type(event).__name__


def _tag(event: Event) -> str:
    tag = type(event).__struct_config__.tag
    return tag if isinstance(tag, str) else type(event).__name__


def changes(before: Any, after: Any, path: str = "$") -> list[tuple[str, Any, Any]]:
    """Leaf-level (path, before, after) differences of two JSON-like values; lists compare whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            out.extend(changes(before.get(key, _MISSING), after.get(key, _MISSING), f"{path}.{key}"))
        return out
    if before == after:
        return []
    return [(path, before, after)]
