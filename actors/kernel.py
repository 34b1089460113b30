"""The actor kernel: one actor's life as pure rules. Routing, fold, decide, the order of its own writes,
and what a failed step means, as data.

The live host (`actors.host`), replay (`analysis.replay`), the what-if fork (`analysis.whatif.fork`) and
the test world (`tests/simworld.py`) are shells around this module: they move messages, keep clocks and
timers, and do the I/O; every rule about how an actor sees the log and answers it is here, once.

    targets(owner, headers, hosted) -> [Ref]        the resources whose actors a message is for
    recipients(registry, refs, event, exists)       ...and the keys of their actors (a companion once wanted)
    Actor(ref, controller, state=None)              an actor's folded state and its sequence marks
    fold(actor, seq, subject, event) -> Folded      a delivered message: skipped at or below what it saw
    own(actor, seq, subject, event)                 an own write the log took: folded at once, skipped later
    decide(actor, now, context) -> Decision | Failure
    writes(actor, decision) -> [Write]              what to append, in order: ctl events, inbox messages,
                                                    commands (`fence` and `msg_id` say how)
    settle(actor, outcome) -> wake_at               the actor's marks once the outcome is durable
    step(actor, messages, now, context)             fold then decide: what a test of a kind needs

A step that fails is a `Failure` value (`actors.failures`, the one place of the failure policy:
transient or terminal, the count, when to try again, whether the resource is quarantined); `lifts` and
`records` are the kernel's side of it. A shell passes a `guard` (the host: `Watchdog.call`) to run
`evolve` and `decide` under a budget; the kernel only calls it. Nothing here reads a clock or does I/O.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from actors.controller import Controller, Registry
from actors.decisions import Context, Decision
from actors.failures import Failure, FailureRecord, Overrun, failure_events, raised
from core import headers as H
from core import subjects
from core.events import Event, RetryRequested, StatusUpdated
from core.names import Ref

__all__ = [
    "FOLDED", "POISONED", "RETRIED", "SEEN", "Actor", "Broken", "Failure", "Folded", "Guard", "Write", "decide",
    "fence", "fold", "lifts", "msg_id", "own", "recipients", "records", "settle", "stamp", "step", "targets",
    "wanted", "writes",
]

Guard = Callable[..., Any]
"""Runs one step under a budget: `guard(actor_key, step, seq, fn, *args)` (`actors.watchdog.Watchdog.call`)."""
_NONE: Mapping[str, str] = {}

# ---- routing ------------------------------------------------------------------------------------------


def targets(owner: Ref, headers: Mapping[str, str], hosted: Callable[[str], bool]) -> list[Ref]:
    """The resource the subject belongs to, plus the actors named in `Bosun-From` (an inbox sender folds
    its own request) and `Bosun-Notify` (the requesters of answers, comma-separated); only kinds that
    have an actor (`hosted(kind)`)."""
    sender, notify = headers.get(H.SENDER), headers.get(H.NOTIFY)
    if not sender and not notify:  # most messages: their own resource only
        return [owner] if hosted(owner.kind) else []
    refs = [owner]
    named = f"{sender},{notify}" if sender and notify else sender or notify or ""
    for token in dict.fromkeys(named.split(",")):
        if token.count(".") == 2:
            other = Ref.parse(token)
            if other != owner:
                refs.append(other)
    return [r for r in refs if hosted(r.kind)]


def wanted(controller: Controller[Any], event: Event, exists: bool) -> bool:
    """Does this actor get the message: the kind's own always; a companion once it exists, or when `wants`
    says this event starts its interest (resources that never use a companion cost nothing)."""
    return controller.wants is None or exists or controller.wants(event)


def recipients(registry: Registry, refs: Iterable[Ref], event: Event, exists: Callable[[str], bool]) -> list[str]:
    """The keys of every actor that gets a message routed to `refs` (`targets`), in order: each resource's
    own actor, then its companions (`wanted`; `exists(key)`: the shell knows that actor already)."""
    return [key for ref in refs for key, ctrl in registry.actors_for(ref)  # `wanted`, inlined: every delivery
            if ctrl.wants is None or exists(key) or ctrl.wants(event)]


# ---- the actor's fold ---------------------------------------------------------------------------------


class Actor:
    """An actor's folded state and the sequence marks that make redelivery harmless: `hwm` (the last
    delivered sequence folded), `own` (own writes folded on ack, not yet seen back), the last sequence of
    each subject it writes (the fence of its next write), its consecutive failures, the deliveries it
    has not decided on yet (`causes`) and a `version` bumped by every fold (a snapshot knows it changed)."""

    __slots__ = ("causes", "cmd_seqs", "controller", "ctl_seq", "ctl_subject", "failures", "hwm", "key", "own",
                 "ref", "state", "version")

    def __init__(self, ref: Ref, controller: Controller[Any], state: Any = None) -> None:
        self.ref = ref
        self.controller = controller
        self.key = f"{ref.token}.{controller.companion}" if controller.companion else ref.token
        """Identity of this actor (snapshot key, timers): the token, suffixed for a companion controller."""
        self.ctl_subject = subjects.ctl(ref, controller.name)
        self.state: Any = controller.initial(ref) if state is None else state
        self.hwm = 0
        self.own: set[int] = set()
        self.ctl_seq = 0
        self.cmd_seqs: dict[str, int] = {}
        self.failures = 0
        self.causes: list[int] = []
        self.version = 1

    def seen(self, seq: int) -> bool:
        """True for a message already folded: at or below the high-water mark, or one of our own writes."""
        if seq <= self.hwm:
            return True
        if seq in self.own:
            self.own.discard(seq)
            self.hwm = seq
            self.own = {s for s in self.own if s > seq}
            return True
        return False

    def fold_delivered(self, seq: int, subject: str, event: Event) -> None:
        self.hwm = seq
        self._track(seq, subject)
        self.fold(event)
        self.causes.append(seq)

    def fold_own(self, seq: int, subject: str, event: Event) -> None:
        if seq > self.hwm:
            self.own.add(seq)
        self._track(seq, subject)
        self.fold(event)

    def fold(self, event: Event) -> None:
        self.state = self.controller.evolve(self.state, event)
        self.version += 1

    def _track(self, seq: int, subject: str) -> None:
        """Remember the last sequence of each subject this actor writes: the expected sequence of its next write."""
        if subject == self.ctl_subject:
            self.ctl_seq = max(self.ctl_seq, seq)
        elif subject.startswith("bosun.cmd."):
            driver = subject.split(".", 3)[2]
            self.cmd_seqs[driver] = max(self.cmd_seqs.get(driver, 0), seq)


class Broken(NamedTuple):
    """A delivered message whose `evolve` raised (skipped) or overran its budget (see `evolve_overran`)."""

    error: BaseException

    @property
    def overran(self) -> bool:
        return isinstance(self.error, Overrun)


FOLDED, SEEN, POISONED, RETRIED = "folded", "seen", "poisoned", "retried"
Folded = str | Broken
"""What `fold` did: FOLDED; SEEN (at or below what it saw, or its own write: nothing to do); POISONED (an
event whose evolve is quarantined: skipped); RETRIED (an operator's retry: the runtime's, the kind never
sees it); or Broken."""


def fold(actor: Actor, seq: int, subject: str, event: Event, held: FailureRecord | None = None,
         guard: Guard | None = None) -> Folded:
    """Fold one delivered message into its actor. `held`: the actor's failure record, if it has one."""
    if actor.seen(seq):
        return SEEN
    if held is not None and held.quarantined and held.step == "evolve" and held.seq == seq:
        # Only a quarantined evolve is skipped: one process death inside it may be a kill -9 of the whole
        # tree, and skipping that event would lose an intent. A second death quarantines it (`crashed`).
        return POISONED
    if isinstance(event, RetryRequested):
        actor.hwm = seq
        actor.causes.append(seq)
        actor.failures = 0
        return RETRIED
    try:
        if guard is None:
            actor.fold_delivered(seq, subject, event)
        else:
            guard(actor.key, "evolve", seq, actor.fold_delivered, seq, subject, event)
    except Overrun as e:  # the event cannot be folded: quarantined (`failures.evolve_overran`), announced
        actor.causes.append(seq)
        return Broken(e)
    except Exception as e:  # noqa: BLE001 - isolate: one bad fold marks one resource, the event is skipped
        return Broken(e)
    if held is not None and lifts(held, seq, subject, FOLDED):
        actor.failures = 0
    return FOLDED


def echo(actor: Actor, seq: int) -> bool:
    """True (and marked seen) when `seq` is one of the actor's own writes coming back while it has no
    delivery left to decide on: what `fold` would return SEEN for, known to leave nothing to decide.
    The host then skips the actor's mailbox for it; anything else (False) goes the usual way."""
    if actor.causes or seq not in actor.own:
        return False
    return actor.seen(seq)


def own(actor: Actor, seq: int, subject: str, event: Event) -> None:
    """An own write the log took (at `seq`): folded now, skipped when it comes back (`fold` says SEEN)."""
    actor.fold_own(seq, subject, event)


# ---- decide and the order of own writes ---------------------------------------------------------------


def decide(actor: Actor, now: float, context: Context, held: FailureRecord | None = None,
           guard: Guard | None = None) -> Decision | Failure:
    """The actor's decision on its state, or the failure of its `decide` (see `Failure`)."""
    ctrl = actor.controller
    try:
        if guard is None:
            return ctrl.decide(actor.state, now, context)
        decision: Decision = guard(actor.key, "decide", actor.hwm, ctrl.decide, actor.state, now, context)
        return decision
    except (Exception, Overrun) as e:  # noqa: BLE001 - isolation: this resource fails alone, as `raised` says
        return raised(e, held, token=actor.ref.token, failures=actor.failures, hwm=actor.hwm, now=now)


class Write(NamedTuple):
    """One append of a decision."""

    subject: str
    owner: Ref
    """The resource whose subject it is (an inbox message's recipient)."""
    slice: str
    """"ctl.<controller>", "inbox" or "cmd"."""
    event: Event
    key: str
    """Dedup key of an inbox message or a command; "" for a ctl event (`msg_id` derives one)."""
    driver: str
    """A command's driver; "" otherwise."""
    headers: Mapping[str, str]
    """`Bosun-Notify` (a ctl event that answers requests) or `Bosun-From` (messages and commands)."""


def writes(actor: Actor, decision: Decision) -> list[Write]:
    """What the runtime appends for `decision`, in order: ctl events, inbox messages, commands."""
    ref = actor.ref
    out: list[Write] = []
    if decision.events:
        ctl, slice_ = actor.ctl_subject, f"ctl.{actor.controller.name}"
        for event in decision.events:
            notify = getattr(event, "notify", None)
            out.append(Write(ctl, ref, slice_, event, "", "", {H.NOTIFY: notify()} if callable(notify) else _NONE))
    if decision.messages or decision.commands:
        sender = {H.SENDER: ref.token}
        for m in decision.messages:
            out.append(Write(subjects.inbox(m.to), m.to, subjects.INBOX, m.event, m.key, "", sender))
        for o in decision.commands:
            out.append(Write(subjects.cmd(o.driver, ref), ref, subjects.CMD, o.command, o.key, o.driver, sender))
    return out


def fence(actor: Actor, write: Write) -> int | None:
    """The expected last sequence of the write's subject (one writer per slice): None for an inbox."""
    if write.slice == subjects.CMD:
        return actor.cmd_seqs.get(write.driver, 0)
    return None if write.slice == subjects.INBOX else actor.ctl_seq


def msg_id(actor: Actor, write: Write, fence: int | None) -> str:
    """The write's deterministic `Nats-Msg-Id` (a retry after a crash appends nothing twice): a message's
    or command's own key; for a ctl event, the actor and the sequence it expects to follow."""
    return write.key if write.subject != actor.ctl_subject else f"{actor.key}/ctl/{fence}"


def stamp(actor: Actor) -> dict[str, str]:
    """Headers of every write of a decision: who decided, on the state through which sequence (replay
    groups a decision's writes by these, with the event time)."""
    return {H.CONTROLLER: actor.controller.name, H.HWM: str(actor.hwm)}


def settle(actor: Actor, outcome: Decision | Failure) -> float | None:
    """The actor's marks once the shell has carried out `outcome`; when it decides again."""
    if isinstance(outcome, Failure):
        actor.failures = outcome.failures
        if outcome.wake_at is None:  # parked or failed: nothing is decided until something new arrives
            actor.causes.clear()
        return outcome.wake_at
    actor.failures = 0
    actor.causes.clear()
    return outcome.wake_at


def step(actor: Actor, messages: Iterable[tuple[int, str, Event]], now: float, context: Context | None = None,
         guard: Guard | None = None) -> Decision | Failure:
    """Fold `messages` ((seq, subject, event), in log order) into the actor, then decide once, as the host
    does (an event whose evolve raises is skipped)."""
    for seq, subject, event in messages:
        fold(actor, seq, subject, event, guard=guard)
    return decide(actor, now, context or Context(), guard=guard)


# ---- failures ---------------------------------------------------------------------------------------


def lifts(held: FailureRecord, seq: int, subject: str, folded: Folded) -> bool:
    """Does this fold lift the actor's failure record: an operator's retry, or a new spec, after it."""
    return seq > held.hwm and (folded is RETRIED or (folded is FOLDED and subject.endswith(".spec")))


def records(actor: Actor, rec: FailureRecord, outcome: str, retry_in: float, now: float) -> list[Event]:
    """The runtime's own ctl writes for a failure (`Bosun-Origin: runtime`): ReconcileFailed, plus the status
    it implies when that changed. A companion's failure is narrative only: the status is its kind's."""
    events = failure_events(actor.controller.status_of(actor.state), actor.state, rec, outcome=outcome,
                            retry_in=retry_in, now=now)
    if actor.controller.companion:
        events = [e for e in events if not isinstance(e, StatusUpdated)]
    return events
