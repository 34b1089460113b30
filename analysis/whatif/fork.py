"""A fork of the log, in memory: today's reconcilers and the simulated data plane run on it to quiescence.

A shell around the actor kernel (`actors.kernel`) with a virtual clock, as the controller host is one
with a wall clock: every message appended to the fork gets the next sequence and is delivered in that
order to the actors the kernel routes it to, folded by the kernel's rules (own writes are folded as
soon as they are appended and skipped when they come back), and each actor decides at once; a
decision's writes are appended in the kernel's order, a failed decide is carried out as the kernel's
`Failure` says (recorded, retried with backoff, quarantined), and `wake_at` arms one timer per actor.
Commands go to the sim's rules in memory (`dataplane.sim.rules.Plane`), whose observations are appended
at their virtual time. No I/O, no wall clock: the same start state and intents always give the same
timeline, and every own write carries the host's headers, so `replay --check` can check a fork too.
"""
from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import msgspec

from actors import failures, kernel
from actors.controller import Controller
from actors.decisions import Context, Decision
from actors.failures import FailureRecord
from analysis.whatif.registry import registry
from core import codec, subjects
from core import headers as H
from core.events import Event
from core.names import Ref
from core.replicas import ReplicaReady
from dataplane.sim.rules import Plane

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
    """Who appended it: an actor's key (`Actor.key`), `driver`, or `intent` (the manifests)."""
    headers: dict[str, str]


class _Draft(NamedTuple):
    """A message not yet in the fork's log: the data plane reports it at its virtual time."""

    ref: Ref
    event: Event


class Result(NamedTuple):
    timeline: list[Entry]
    quiescent: bool
    """False when the horizon or the step budget ran out first."""
    elapsed: float
    decisions: int


class Fork:
    def __init__(self, states: Mapping[Ref, Any], plane: Plane, start: float,
                 timers: Mapping[Ref, float] | None = None, first_seq: int = 1,
                 companions: Mapping[tuple[Ref, str], Any] | None = None,
                 companion_timers: Mapping[tuple[Ref, str], float] | None = None) -> None:
        """`states` are the kinds' own actors' states, `companions` the companion actors' (the autoscaler's)
        by (resource, companion name); the clock starts at `start` (the log's last message: no wall clock)."""
        self.registry = registry()
        self.plane = plane
        self.start = self.now = start
        self.actors: dict[str, kernel.Actor] = {}
        self.book: dict[str, FailureRecord] = {}
        """Failure records the runtime keeps (the host's quarantine book), by actor key."""
        self.timers: dict[str, float] = {}
        self.timeline: list[Entry] = []
        self.decisions = 0
        self._seq = first_seq - 1
        self._log: deque[Entry] = deque()
        """Appended, not yet delivered (in sequence order)."""
        self._pending: list[tuple[float, int, _Draft]] = []
        self._drafted = 0
        self._views: dict[Ref, Any] = {}
        self._context: dict[int, Context] = {}
        """Behaviour -> the Context a decide of that behaviour reads now (emptied when a view changes)."""
        self._recorded_as: tuple[Context | None, str] = (None, "")
        """The Context as recorded with a decision's first write (encoded when a decision writes)."""
        for ref, state in states.items():
            self._actor(ref.token, state)
        for (ref, name), state in (companions or {}).items():
            self._actor(f"{ref.token}.{name}", state)
        for ref, when in (timers or {}).items():
            self.timers[ref.token] = when
        for (ref, name), when in (companion_timers or {}).items():
            self.timers[f"{ref.token}.{name}"] = when

    # ---- inputs --------------------------------------------------------------------------------------

    def intend(self, ref: Ref, event: Event) -> None:
        """Append a user intent (SpecApplied / DeletionRequested) on the resource's spec slice now."""
        self._append(subjects.spec(ref), ref, subjects.SPEC, event, "intent", {})

    def observe(self, ref: Ref, event: Event, at: float) -> None:
        """An observation the data plane reports at `at` (e.g. a replica already starting)."""
        if at <= self.now:
            self._report(_Draft(ref, event))
        else:
            self._drafted += 1
            heapq.heappush(self._pending, (at, self._drafted, _Draft(ref, event)))

    # ---- running -------------------------------------------------------------------------------------

    def run(self, horizon: float = HORIZON, max_steps: int = MAX_STEPS) -> Result:
        steps = 0
        idle: set[str] = set()
        while steps < max_steps:
            steps += 1
            if self._log:
                if self._deliver(self._log.popleft()):
                    idle.clear()
                continue
            due = min(self.timers.values(), default=None)
            if self._pending and (due is None or self._pending[0][0] <= due):
                at = self._pending[0][0]
                if at - self.start > horizon:
                    return self._result(False)
                self.now = max(self.now, at)
                while self._pending and self._pending[0][0] == at:  # all reported at that instant, in order
                    self._report(heapq.heappop(self._pending)[2])
                continue
            if not self._pending and (due is None or set(self.timers) <= idle):
                return self._result(True)  # nothing in flight, and every timer fired without effect
            assert due is not None
            if due - self.start > horizon:
                return self._result(False)
            key = min((k for k, t in self.timers.items() if t == due), key=_order)
            self.now = max(self.now, due)
            del self.timers[key]
            if self._decide(self._actor(key)):
                idle.clear()
            else:
                idle.add(key)
        return self._result(False)

    def states(self) -> dict[Ref, Any]:
        """The kinds' own actors' states (every resource the fork touched)."""
        return {a.ref: a.state for a in self.actors.values() if not a.controller.companion}

    def companion_states(self) -> dict[tuple[Ref, str], Any]:
        return {(a.ref, a.controller.companion): a.state for a in self.actors.values() if a.controller.companion}

    def context(self, behaviour: int = 1) -> Context:
        """What a decide of `behaviour` (its controller's, as the host hands it) reads now."""
        found = self._context.get(behaviour)
        if found is None:
            views: dict[str, list[Any]] = {}
            for ref in sorted(self._views):
                views.setdefault(ref.kind, []).append(self._views[ref])
            found = self._context[behaviour] = Context(views={kind: tuple(vs) for kind, vs in views.items()},
                                                       behaviour=behaviour)
        return found

    def _result(self, quiescent: bool) -> Result:
        return Result(self.timeline, quiescent, self.now - self.start, self.decisions)

    # ---- the log ---------------------------------------------------------------------------------------

    def _append(self, subject: str, owner: Ref, slice_: str, event: Event, writer: str,
                headers: dict[str, str]) -> Entry:
        self._seq += 1
        entry = Entry(self._seq, round(self.now - self.start, 6), subject, owner, slice_, event, writer, headers)
        self._log.append(entry)
        return entry

    def _report(self, draft: _Draft) -> None:
        """The data plane appends an observation (a readiness only if the replica still runs)."""
        ref, event = draft
        if isinstance(event, ReplicaReady) and not self.plane.promote(ref, event.replica):
            return  # stopped before it became ready: the live driver never reports it
        self._append(subjects.obs(ref), ref, subjects.OBS, event, "driver", {})

    def _deliver(self, entry: Entry) -> bool:
        """Actuate a command, or fold a message into the actors the kernel routes it to and let each decide;
        True if anything new was appended."""
        self.timeline.append(entry)
        if entry.slice == subjects.CMD:
            for obs in self.plane.actuate(entry.ref, entry.event, self.now):
                self.observe(obs.ref, obs.event, obs.at)
            return True
        wrote = entry.writer in ("intent", "driver")
        refs = kernel.targets(entry.ref, entry.headers, self.registry.hosted)
        for key in kernel.recipients(self.registry, refs, entry.event, self.actors.__contains__):
            actor = self._actor(key)
            held = self.book.get(key)
            folded = kernel.fold(actor, entry.seq, entry.subject, entry.event, held)
            if folded is kernel.SEEN or folded is kernel.POISONED:
                continue
            if held is not None and kernel.lifts(held, entry.seq, entry.subject, folded):
                del self.book[key]
            self._publish(actor)
            wrote = self._decide(actor) or wrote
        return wrote

    # ---- actors --------------------------------------------------------------------------------------

    def _actor(self, key: str, state: Any = None) -> kernel.Actor:
        actor = self.actors.get(key)
        if actor is None:
            found = self.registry.actor_of_key(key)
            assert found is not None, key
            actor = self.actors[key] = kernel.Actor(found[0], found[1], state)
            self._publish(actor)
        return actor

    def _decide(self, actor: kernel.Actor) -> bool:
        """The actor's step on the fork, as the host takes it; True if it appended anything."""
        key = actor.key
        held = self.book.get(key)
        if failures.parked(held):
            assert held is not None
            if not held.announced:
                self._record(actor, held, "quarantined")
            actor.causes.clear()
            return False
        self.decisions += 1
        context = self.context(actor.controller.behaviour)
        outcome = kernel.decide(actor, self.now, context, held)
        if isinstance(outcome, kernel.Failure):
            if outcome.record is not None:
                if outcome.keep:
                    self.book[key] = outcome.record
                self._record(actor, outcome.record, outcome.outcome, outcome.retry_in)
            self._arm(key, kernel.settle(actor, outcome))
            return outcome.record is not None
        self._write(actor, outcome, context)
        if held is not None:
            del self.book[key]
        self._arm(key, kernel.settle(actor, outcome))
        return not outcome.empty

    def _write(self, actor: kernel.Actor, decision: Decision, context: Context) -> None:
        common = {**kernel.stamp(actor), H.TIME: repr(self.now)}
        for i, write in enumerate(kernel.writes(actor, decision)):
            headers = {**common, **write.headers}
            if i == 0 and (context.views or context.behaviour != 1):
                headers[H.CONTEXT] = self._recorded(context)
            self._own(actor, write, headers)

    def _record(self, actor: kernel.Actor, rec: FailureRecord, outcome: str, delay: float = 0.0) -> None:
        """The runtime's own record of a failure on the actor's ctl slice (`Bosun-Origin: runtime`)."""
        headers = {H.CONTROLLER: actor.controller.name, H.ORIGIN: "runtime", H.TIME: repr(self.now)}
        for event in kernel.records(actor, rec, outcome, delay, self.now):
            (write,) = kernel.writes(actor, Decision(events=(event,)))
            self._own(actor, write, {**headers, **write.headers})
        if rec.quarantined:
            self.book[actor.key] = msgspec.structs.replace(rec, announced=True)

    def _own(self, actor: kernel.Actor, write: kernel.Write, headers: dict[str, str]) -> None:
        entry = self._append(write.subject, write.owner, write.slice, write.event, actor.key, headers)
        kernel.own(actor, entry.seq, write.subject, write.event)
        self._publish(actor)

    def _arm(self, key: str, when: float | None) -> None:
        if when is None:
            self.timers.pop(key, None)
        else:
            self.timers[key] = max(when, self.now)

    # ---- views: what decide reads of other resources ----------------------------------------------------

    def _publish(self, actor: kernel.Actor) -> None:
        ctrl: Controller[Any] = actor.controller
        if ctrl.companion:
            return
        view = ctrl.view(actor.state)
        if view is None:
            if self._views.pop(actor.ref, None) is not None:
                self._context.clear()
        elif self._views.get(actor.ref) != view:
            self._views[actor.ref] = view
            self._context.clear()

    def _recorded(self, context: Context) -> str:
        if self._recorded_as[0] is not context:
            self._recorded_as = (context, codec.encode_json(context).decode())
        return self._recorded_as[1]


def _order(key: str) -> tuple[str, str]:
    """Timers due at once fire by resource, the kind's own actor before its companions."""
    kind, namespace, name, *companion = key.split(".", 3)
    return f"{kind}.{namespace}.{name}", companion[0] if companion else ""
