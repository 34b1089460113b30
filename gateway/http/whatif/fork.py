"""A fork of the log, in memory: today's reconcilers and the simulated data plane run on it to quiescence.

It plays the controller host's rules (`actors/host.py`) with a virtual clock: a message goes to the
actor of its subject and to those named in `Bosun-From`/`Bosun-Notify` (`actors.routing.targets`, the
rule the host and replay share); an actor folds it and decides at once; a decision's writes are
appended in the host's order (ctl events, inbox messages, commands) and folded into the writer as on
ack; `wake_at` arms one timer per actor; a `decide` that raises is recorded like the host records it
and retried with the host's backoff. Commands go to `SimPlane`, whose observations arrive at their
virtual time. No I/O, no wall clock: the same start state and intents always give the same timeline.
"""
from __future__ import annotations

import contextlib
import heapq
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from actors import routing
from actors.controller import Controller
from actors.decisions import Context, Decision, backoff
from core import headers as H
from core import subjects
from core.events import Event, ReconcileFailed
from core.names import Ref
from core.replicas import ReplicaReady
from gateway.http.whatif.dataplane import SimPlane
from gateway.http.whatif.registry import companions as companions_of
from gateway.http.whatif.registry import controller_for, hosted

Actor = tuple[Ref, str]
"""(resource, companion name): "" for the kind's own controller."""
MAX_STEPS = 200_000
HORIZON = 600.0
"""Virtual seconds a plan may run before it is cut off (a resource still retrying is reported as such)."""


class Entry(NamedTuple):
    """One message appended on the fork: the predicted timeline is the list of these, in order."""

    seq: int
    at: float
    """Virtual seconds since the fork started."""
    subject: str
    ref: Ref
    slice: str
    event: Event
    writer: str
    """Who appended it: an actor's ref token, `driver`, or `intent` (the manifests)."""
    headers: dict[str, str]


class Result(NamedTuple):
    timeline: list[Entry]
    quiescent: bool
    """False when the horizon or the step budget ran out first."""
    elapsed: float
    decisions: int


@dataclass
class Fork:
    states: dict[Ref, Any]
    plane: SimPlane
    start: float
    """The fork's virtual clock starts here (the time of the log's last message: no wall clock)."""
    timers: dict[Ref, float] = field(default_factory=dict)
    first_seq: int = 1
    companions: dict[tuple[Ref, str], Any] = field(default_factory=dict)
    """Companion actors' states (the autoscaler's), by (resource, companion name)."""
    companion_timers: dict[tuple[Ref, str], float] = field(default_factory=dict)
    timeline: list[Entry] = field(default_factory=list)
    _queue: list[tuple[float, int, Entry]] = field(default_factory=list)
    _views: dict[Ref, Any] = field(default_factory=dict)
    _failures: dict[Actor, int] = field(default_factory=dict)
    _seq: int = 0
    now: float = 0.0
    decisions: int = 0

    def __post_init__(self) -> None:
        self.now = self.start
        self._seq = self.first_seq - 1
        for ref, state in self.states.items():
            self._publish(ref, state)

    # ---- inputs --------------------------------------------------------------------------------------

    def intend(self, ref: Ref, event: Event) -> None:
        """Append a user intent (SpecApplied / DeletionRequested) on the resource's spec slice now."""
        self._append(subjects.spec(ref), ref, "spec", event, "intent", {}, self.now)

    def observe(self, ref: Ref, event: Event, at: float) -> None:
        """An observation the data plane will report at `at` (e.g. a replica already starting)."""
        self._append(subjects.obs(ref), ref, "obs", event, "driver", {}, at)

    # ---- running -------------------------------------------------------------------------------------

    def run(self, horizon: float = HORIZON, max_steps: int = MAX_STEPS) -> Result:
        steps = 0
        idle: set[Actor] = set()
        while steps < max_steps:
            steps += 1
            armed = self._armed()
            due = min(armed.values(), default=None)
            if self._queue and (due is None or self._queue[0][0] <= due):
                at, _, entry = heapq.heappop(self._queue)
                if at - self.start > horizon:
                    return self._result(False)
                self.now = max(self.now, at)
                if self._deliver(entry):
                    idle.clear()
                continue
            if not self._queue and (due is None or set(armed) <= idle):
                return self._result(True)  # nothing in flight, and every timer fired without effect
            assert due is not None
            if due - self.start > horizon:
                return self._result(False)
            actor = min((a for a, t in armed.items() if t == due), key=lambda a: (a[0].token, a[1]))
            self.now = max(self.now, due)
            self._disarm(actor)
            if self._decide(actor):
                idle.clear()
            else:
                idle.add(actor)
        return self._result(False)

    def _result(self, quiescent: bool) -> Result:
        return Result(self.timeline, quiescent, self.now - self.start, self.decisions)

    def _deliver(self, entry: Entry) -> bool:
        """Actuate a command, or fold an event into its targets and let each decide; True if anything
        new was appended."""
        self.timeline.append(entry)
        if entry.slice == subjects.CMD:
            for obs in self.plane.actuate(entry.ref, entry.event, self.now):
                self.observe(obs.ref, obs.event, obs.at)
            return True
        if isinstance(entry.event, ReplicaReady) and entry.writer == "driver" \
                and not self.plane.promote(entry.ref, entry.event.replica):
            self.timeline.pop()  # stopped before it became ready: the live driver never reports it
            return False
        wrote = entry.writer == "intent" or entry.writer == "driver"
        for ref in routing.targets(entry.ref, entry.headers, hosted):
            for actor in self._actors(ref, entry.event):
                if _key(actor) == entry.writer:
                    continue  # own write: folded on ack already
                self._fold(actor, entry.event)
                wrote = self._decide(actor) or wrote
        return wrote

    def _actors(self, ref: Ref, event: Event) -> list[Actor]:
        """The resource's own actor, then each companion that exists or that this event starts (`wants`)."""
        out: list[Actor] = [(ref, "")]
        for c in companions_of(ref.kind):
            actor = (ref, c.companion)
            if actor in self.companions or c.wants is None or c.wants(event):
                out.append(actor)
        return out

    def _fold(self, actor: Actor, event: Event) -> None:
        ctrl = _controller(actor)
        state = self._state(actor)
        with contextlib.suppress(Exception):  # the host logs and skips an event whose evolve raises
            state = ctrl.evolve(state, event)
        self._keep(actor, state)

    def _decide(self, actor: Actor) -> bool:
        ctrl = _controller(actor)
        state = self._state(actor)
        self._keep(actor, state)
        self.decisions += 1
        try:
            decision = ctrl.decide(state, self.now, self.context())
        except Exception as e:  # noqa: BLE001 - failure isolation, as the host does it
            return self._failed(actor, e)
        self._failures.pop(actor, None)
        self._write(actor, decision)
        self._disarm(actor)
        if decision.wake_at is not None:
            self._arm(actor, max(decision.wake_at, self.now))
        return not decision.empty

    def _write(self, actor: Actor, decision: Decision) -> None:
        ref, ctrl = actor[0], _controller(actor)
        me = ref.token
        for event in decision.events:
            notify = getattr(event, "notify", None)
            hdrs = {H.NOTIFY: notify()} if callable(notify) else {}
            self._own(actor, subjects.ctl(ref, ctrl.name), ref, f"ctl.{ctrl.name}", event, hdrs)
        for m in decision.messages:
            self._own(actor, subjects.inbox(m.to), m.to, subjects.INBOX, m.event, {H.SENDER: me})
        for o in decision.commands:
            self._own(actor, subjects.cmd(o.driver, ref), ref, subjects.CMD, o.command, {H.SENDER: me})

    def _own(self, actor: Actor, subject: str, owner: Ref, slice_: str, event: Event, hdrs: dict[str, str]) -> None:
        self._append(subject, owner, slice_, event, _key(actor), hdrs, self.now)
        self._keep(actor, _controller(actor).evolve(self._state(actor), event))

    def _failed(self, actor: Actor, error: Exception) -> bool:
        attempt = self._failures.get(actor, 0) + 1
        self._failures[actor] = attempt
        ref = actor[0]
        delay = backoff(attempt, ref.token, base=1.0, cap=60.0)
        ctrl = _controller(actor)
        event = ReconcileFailed(error=repr(error)[:500], attempt=attempt, retry_in=delay)
        self._own(actor, subjects.ctl(ref, ctrl.name), ref, f"ctl.{ctrl.name}", event, {H.ORIGIN: "runtime"})
        self._arm(actor, self.now + delay)
        return attempt == 1

    # ---- actors: the kind's own (states, timers, by Ref) and companions (by (Ref, name)) -------------

    def _state(self, actor: Actor) -> Any:
        ref, name = actor
        found = self.companions.get(actor) if name else self.states.get(ref)
        return found if found is not None else _controller(actor).initial(ref)

    def _keep(self, actor: Actor, state: Any) -> None:
        if actor[1]:
            self.companions[actor] = state
        else:
            self.states[actor[0]] = state
            self._publish(actor[0], state)

    def _armed(self) -> dict[Actor, float]:
        return {**{(r, ""): t for r, t in self.timers.items()}, **self.companion_timers}

    def _arm(self, actor: Actor, when: float) -> None:
        if actor[1]:
            self.companion_timers[actor] = when
        else:
            self.timers[actor[0]] = when

    def _disarm(self, actor: Actor) -> None:
        if actor[1]:
            self.companion_timers.pop(actor, None)
        else:
            self.timers.pop(actor[0], None)

    def _append(self, subject: str, owner: Ref, slice_: str, event: Event, writer: str, hdrs: dict[str, str],
                at: float) -> None:
        self._seq += 1
        entry = Entry(self._seq, round(at - self.start, 6), subject, owner, slice_, event, writer, hdrs)
        heapq.heappush(self._queue, (at, self._seq, entry))

    def _publish(self, ref: Ref, state: Any) -> None:
        ctrl = controller_for(ref.kind)
        view = ctrl.view(state) if ctrl is not None else None
        if view is None:
            self._views.pop(ref, None)
        else:
            self._views[ref] = view

    def context(self) -> Context:
        views: dict[str, list[Any]] = {}
        for ref in sorted(self._views):
            views.setdefault(ref.kind, []).append(self._views[ref])
        return Context(views={kind: tuple(vs) for kind, vs in views.items()})


def _controller(actor: Actor) -> Controller[Any]:
    ref, name = actor
    found = controller_for(ref.kind) if not name else next(
        (c for c in companions_of(ref.kind) if c.companion == name), None)
    assert found is not None, actor
    return found


def _key(actor: Actor) -> str:
    """Who wrote an entry: the actor key (`Cell.key`), the resource token for the kind's own actor."""
    ref, name = actor
    return f"{ref.token}.{name}" if name else ref.token
