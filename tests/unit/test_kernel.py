"""The actor kernel, table by table: given an actor's state and a message (or a step that fails), the outcome."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors import failures, kernel
from actors.capacity import CapacityGranted, CapacityRequested
from actors.controller import Controller
from actors.decisions import Context, Decision, Message, Order, backoff
from actors.failures import FailureRecord, MemoryOverrun, Overrun, TerminalError
from core import headers as H
from core import subjects
from core.events import Event, ReconcileFailed, RetryRequested, SpecApplied, StatusUpdated
from core.kinds import KindInfo
from core.names import Ref
from core.replicas import StartReplica
from core.steps import Crash, overdue
from tests.conftest import REGISTRY

POOL = Ref("gpupool", "infra", "a100")
DEP = Ref("modeldeployment", "team-a", "chat")
OTHER = Ref("modeldeployment", "team-a", "other")
SPEC, CTL, OBS = subjects.spec(DEP), subjects.ctl(DEP, "modeldeployment"), subjects.obs(DEP)


# ---- a tiny kind: its state counts folds; its spec says how its decide behaves --------------------------


class Counter(msgspec.Struct, frozen=True):
    ref: Ref
    folds: int = 0
    mode: str = "ok"
    status: StatusUpdated | None = None


def _evolve(s: Counter, e: Event) -> Counter:
    if isinstance(e, SpecApplied):
        if e.spec.get("mode") == "bad-evolve":
            raise ValueError("cannot fold this")
        return msgspec.structs.replace(s, folds=s.folds + 1, mode=str(e.spec.get("mode", "ok")))
    if isinstance(e, StatusUpdated):
        return msgspec.structs.replace(s, status=e, folds=s.folds + 1)
    return msgspec.structs.replace(s, folds=s.folds + 1)


def _decide(s: Counter, now: float, ctx: Context) -> Decision:
    match s.mode:
        case "raise":
            raise RuntimeError("boom")
        case "terminal":
            raise TerminalError("never")
        case "overrun":
            raise Overrun("decide ran past its 0.5s budget")
        case "write":
            req = CapacityRequested(request_id=1, requester=s.ref.token, pool="infra/a100", gpus=1)
            start = StartReplica(replica="c-1", pool="infra/a100", gpus=1, model="m", generation=1)
            return Decision(events=(StatusUpdated(observed_generation=1, phase="Progressing"),),
                            messages=(Message(POOL, req, "req/1"),), commands=(Order("sim", start, "start/1"),),
                            wake_at=now + 30)
    return Decision(wake_at=None)


def _ctrl(companion: str = "", wants: Any = None) -> Controller[Counter]:
    info = KindInfo(name="Counter", plural="counters", spec_type=msgspec.Struct, controller="counter")
    return Controller(info=info, state_type=Counter, initial=lambda ref: Counter(ref=ref), evolve=_evolve,
                      decide=_decide, status_of=lambda s: s.status, companion=companion, wants=wants)


C = Ref("counter", "ns", "c")
C_SPEC, C_CTL = subjects.spec(C), subjects.ctl(C, "counter")


def actor(mode: str = "ok", failures_: int = 0, hwm: int = 0) -> kernel.Actor:
    a = kernel.Actor(C, _ctrl(), Counter(ref=C, mode=mode))
    a.failures, a.hwm = failures_, hwm
    return a


def spec(mode: str = "ok") -> SpecApplied:
    return SpecApplied(generation=1, spec={"mode": mode})


# ---- routing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, [DEP]),
    ({H.SENDER: DEP.token}, [DEP]),  # an inbox sender or a command's writer: its own resource, once
    ({H.SENDER: OTHER.token}, [DEP, OTHER]),
    ({H.NOTIFY: f"{OTHER.token},{OTHER.token}"}, [DEP, OTHER]),
    ({H.SENDER: POOL.token, H.NOTIFY: OTHER.token}, [DEP, POOL, OTHER]),
    ({H.NOTIFY: "not-a-token"}, [DEP]),
])
def test_a_message_goes_to_its_resource_and_the_actors_its_headers_name(headers: dict[str, str],
                                                                        expected: list[Ref]) -> None:
    assert kernel.targets(DEP, headers, REGISTRY.hosted) == expected


def test_only_kinds_with_an_actor_are_targets() -> None:
    role = Ref("role", "team-a", "reader")  # policy: admission reads it, no actor
    assert kernel.targets(role, {}, REGISTRY.hosted) == []
    assert kernel.targets(DEP, {H.NOTIFY: role.token}, REGISTRY.hosted) == [DEP]


@pytest.mark.parametrize(("exists", "event", "expected"), [
    (False, spec(), False),  # a companion nobody wants: never created
    (False, spec("start-me"), True),  # the event it wants starts it
    (True, spec(), True),  # once it exists it sees everything
])
def test_a_companion_gets_messages_once_wanted(exists: bool, event: Event, expected: bool) -> None:
    companion = _ctrl("sidecar", wants=lambda e: isinstance(e, SpecApplied) and e.spec.get("mode") == "start-me")
    assert kernel.wanted(companion, event, exists) is expected
    assert kernel.wanted(_ctrl(), event, False)  # the kind's own actor always


def test_recipients_are_each_resources_actor_then_its_companions() -> None:
    autoscaled = SpecApplied(generation=1, spec={"autoscaling": {"min": 1, "max": 2}})
    assert kernel.recipients(REGISTRY, [DEP, POOL], autoscaled, lambda k: False) == [
        DEP.token, f"{DEP.token}.autoscaler", POOL.token]
    assert kernel.recipients(REGISTRY, [DEP], spec(), lambda k: False) == [DEP.token]  # no autoscaler wanted
    assert kernel.recipients(REGISTRY, [DEP], spec(), lambda k: True) == [DEP.token, f"{DEP.token}.autoscaler"]


# ---- the fold ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hwm", "own", "seq", "expected", "folds", "hwm_after"), [
    (5, set(), 6, kernel.FOLDED, 1, 6),
    (5, set(), 5, kernel.SEEN, 0, 5),  # redelivered: at or below what it saw
    (5, set(), 3, kernel.SEEN, 0, 5),
    (5, {7}, 7, kernel.SEEN, 0, 7),  # its own write coming back: folded on ack already
    (5, {7, 9}, 8, kernel.FOLDED, 1, 8),
])
def test_a_delivered_message_is_folded_once(hwm: int, own: set[int], seq: int, expected: str, folds: int,
                                            hwm_after: int) -> None:
    a = actor(hwm=hwm)
    a.own = set(own)
    assert kernel.fold(a, seq, C_SPEC, spec()) == expected
    assert (a.state.folds, a.hwm) == (folds, hwm_after)
    assert a.causes == ([seq] if expected == kernel.FOLDED else [])


def test_own_writes_are_folded_at_once_and_fence_the_next_write() -> None:
    a = actor()
    kernel.own(a, 4, C_CTL, StatusUpdated(observed_generation=1, phase="Ready"))
    kernel.own(a, 6, subjects.cmd("sim", C), StartReplica(replica="r", pool="p", gpus=1, model="m", generation=1))
    assert a.state.folds == 2 and a.own == {4, 6} and (a.ctl_seq, a.cmd_seqs) == (4, {"sim": 6})
    assert kernel.fold(a, 4, C_CTL, StatusUpdated(observed_generation=1, phase="Ready")) is kernel.SEEN
    assert a.own == {6} and a.hwm == 4 and a.state.folds == 2


def test_an_own_write_coming_back_to_an_actor_with_nothing_to_decide_is_an_echo() -> None:
    """`echo` (the host's shortcut past the mailbox, issue 27) agrees with `fold`: the same marks, and only
    where `fold` would say SEEN and leave nothing to decide."""
    a, b = actor(), actor()
    for x in (a, b):
        kernel.own(x, 4, C_CTL, StatusUpdated(observed_generation=1, phase="Ready"))
        kernel.own(x, 6, C_CTL, StatusUpdated(observed_generation=1, phase="Progressing"))
    assert kernel.echo(a, 4) is True and kernel.fold(b, 4, C_CTL, spec()) is kernel.SEEN
    assert (a.own, a.hwm, a.causes, a.state) == (b.own, b.hwm, b.causes, b.state) == ({6}, 4, [], a.state)
    assert kernel.echo(a, 5) is False and a.hwm == 4  # not its own write: delivered the usual way
    assert kernel.echo(a, 4) is False  # already seen: not an echo either (fold says SEEN on its own)
    a.causes.append(3)  # a delivery still to decide on: its drain must run, echo or not
    assert kernel.echo(a, 6) is False and a.own == {6} and a.hwm == 4


def test_an_evolve_that_raises_is_skipped_and_one_that_overruns_asks_to_decide() -> None:
    a = actor()
    broken = kernel.fold(a, 3, C_SPEC, spec("bad-evolve"))
    assert isinstance(broken, kernel.Broken) and not broken.overran and a.state.folds == 0 and a.causes == []

    def overrun(*_: Any) -> None:
        raise MemoryOverrun("evolve grew resident memory by 600 MiB")

    slow = kernel.fold(a, 4, C_SPEC, spec(), guard=overrun)
    assert isinstance(slow, kernel.Broken) and slow.overran and a.causes == [4]
    rec = failures.evolve_overran(None, 4, slow.error, now=10.0)  # type: ignore[arg-type]
    assert (rec.step, rec.reason, rec.seq, rec.quarantined) == ("evolve", "memory", 4, True)
    assert kernel.fold(actor(), 4, C_SPEC, spec(), held=rec) is kernel.POISONED  # never folded again
    assert kernel.fold(actor(), 5, C_SPEC, spec(), held=rec) is kernel.FOLDED


@pytest.mark.parametrize(("held_hwm", "seq", "subject", "event", "lifted"), [
    (5, 6, C_SPEC, spec(), True),  # a new spec after the failure
    (5, 6, subjects.obs(C), spec(), False),  # an observation does not
    (5, 6, subjects.inbox(C), RetryRequested(), True),  # an operator's retry
    (9, 6, subjects.inbox(C), RetryRequested(), False),  # older than the failure
])
def test_a_spec_change_or_a_retry_lifts_a_failure(held_hwm: int, seq: int, subject: str, event: Event,
                                                  lifted: bool) -> None:
    held = FailureRecord(step="decide", reason="exception", message="x", since=0, hwm=held_hwm, quarantined=True)
    a = actor(failures_=3)
    folded = kernel.fold(a, seq, subject, event, held=held)
    assert kernel.lifts(held, seq, subject, folded) is lifted
    if isinstance(event, RetryRequested):  # the runtime's own: the kind never folds it
        assert folded is kernel.RETRIED and a.state.folds == 0 and a.failures == 0 and a.causes == [seq]
    else:
        assert a.failures == (0 if lifted else 3)


# ---- decide and the order of own writes ----------------------------------------------------------------


def test_a_decision_is_written_ctl_events_then_inbox_messages_then_commands() -> None:
    a = actor("write", hwm=12)
    a.ctl_seq, a.cmd_seqs = 8, {"sim": 10}
    decision = kernel.decide(a, 100.0, Context())
    assert isinstance(decision, Decision)
    writes = kernel.writes(a, decision)
    assert [(w.subject, w.slice) for w in writes] == [
        (C_CTL, "ctl.counter"), (subjects.inbox(POOL), "inbox"), (subjects.cmd("sim", C), "cmd")]
    assert [w.headers for w in writes] == [{}, {H.SENDER: C.token}, {H.SENDER: C.token}]
    assert [kernel.fence(a, w) for w in writes] == [8, None, 10]
    assert [kernel.msg_id(a, w, kernel.fence(a, w)) for w in writes] == [f"{C.token}/ctl/8", "req/1", "start/1"]
    assert kernel.stamp(a) == {H.CONTROLLER: "counter", H.HWM: "12"}


def test_an_answer_notifies_its_requesters() -> None:
    pool = kernel.Actor(POOL, REGISTRY.controller_for("gpupool"))  # type: ignore[arg-type]
    granted = CapacityGranted(request_id=1, requester=DEP.token, pool="infra/a100", gpus=1)
    (write,) = kernel.writes(pool, Decision(events=(granted,)))
    assert write.headers == {H.NOTIFY: DEP.token}
    assert kernel.targets(POOL, write.headers, REGISTRY.hosted) == [POOL, DEP]


def test_a_durable_decision_clears_causes_and_failures() -> None:
    a = actor("write", failures_=2)
    a.causes = [3, 4]
    decision = kernel.decide(a, 100.0, Context())
    assert isinstance(decision, Decision)
    assert kernel.settle(a, decision) == 130.0 and a.causes == [] and a.failures == 0


def _failure(mode: str, failures_: int = 0, held: FailureRecord | None = None, now: float = 1_000.0
             ) -> tuple[kernel.Actor, failures.Failure]:
    a = actor(mode, failures_=failures_, hwm=7)
    a.causes = [7]
    outcome = kernel.decide(a, now, Context(), held)
    assert isinstance(outcome, failures.Failure)
    return a, outcome


@pytest.mark.parametrize("before", [0, 1, 3])
def test_a_transient_failure_is_retried_with_backoff(before: int) -> None:
    a, f = _failure("raise", before)
    wait = backoff(before + 1, C.token, base=1.0, cap=60.0)
    assert (f.reason, f.outcome, f.failures, f.keep) == ("exception", "retry", before + 1, False)
    assert f.retry_in == wait and f.wake_at == 1_000.0 + wait
    assert f.record is not None and f.record.count == before + 1 and f.record.hwm == 7
    assert f.record.since == pytest.approx(1_000.0 - sum(backoff(i, C.token, 1.0, 60.0) for i in range(1, before + 1)))
    assert kernel.settle(a, f) == f.wake_at and a.failures == before + 1 and a.causes == [7]  # decided again


def test_the_fifth_transient_failure_in_a_row_quarantines() -> None:
    a, f = _failure("raise", failures.QUARANTINE_AFTER - 1)
    assert (f.outcome, f.wake_at, f.keep) == ("quarantined", None, True)
    assert f.record is not None and f.record.quarantined and not f.record.announced
    assert kernel.settle(a, f) is None and a.causes == []
    assert failures.parked(f.record)


def test_a_terminal_error_fails_without_retry() -> None:
    a, f = _failure("terminal", 2)
    assert (f.reason, f.outcome, f.wake_at, f.failures, f.keep) == ("terminal", "failed", None, 2, False)
    assert f.record is not None and f.record.reason == "terminal" and f.record.message == "never"
    assert kernel.settle(a, f) is None and a.causes == []


def test_an_overrun_is_retried_once_then_quarantined() -> None:
    _, first = _failure("overrun")
    assert (first.reason, first.outcome, first.keep) == ("timeout", "retry", True)
    assert first.record is not None and first.record.count == 1 and not first.record.quarantined
    _, second = _failure("overrun", held=first.record, now=2_000.0)
    assert (second.outcome, second.wake_at) == ("quarantined", None)
    assert second.record is not None and second.record.count == 2 and second.record.since == 1_000.0


def test_a_fenced_or_unreachable_write_retries_without_a_record() -> None:
    fenced = failures.fenced(RuntimeError("wrong last sequence"), token=C.token, failures=2, now=50.0)
    assert (fenced.reason, fenced.record, fenced.failures) == ("conflict", None, 2)
    assert fenced.wake_at == 50.0 + backoff(1, C.token)
    down = failures.unreachable(RuntimeError("no servers"), token=C.token, failures=2, now=50.0)
    assert (down.reason, down.record, down.failures) == ("unavailable", None, 3)
    assert down.wake_at == 50.0 + backoff(3, C.token, base=0.2, cap=1.0)  # an election's few seconds, not more
    assert max(failures.unreachable(RuntimeError("no leader"), token=C.token, failures=n, now=0.0).wake_at
               for n in range(30)) <= 1.0


def test_the_runtime_records_a_failure_in_the_status_but_a_companions_only_as_narrative() -> None:
    a, f = _failure("raise")
    assert f.record is not None
    narrative, status = kernel.records(a, f.record, f.outcome, f.retry_in, 1_000.0)
    assert isinstance(narrative, ReconcileFailed) and isinstance(status, StatusUpdated)
    assert status.phase == "Degraded"
    sidecar = kernel.Actor(C, _ctrl("sidecar"))
    assert [type(e) for e in kernel.records(sidecar, f.record, f.outcome, f.retry_in, 1_000.0)] == [ReconcileFailed]


# ---- a process that died inside a step ----------------------------------------------------------------


@pytest.mark.parametrize(("previous", "reason", "count", "quarantined"), [
    (None, "crash", 1, False),  # one death may be a kill -9 of the whole tree: run it once more
    ("crash", "crash", 2, True),  # the second death in the same step: quarantined
    (None, "timeout", 1, True),  # the watchdog or the supervisor judged it: quarantined at once
])
def test_a_crash_found_at_start_runs_its_step_once_more_at_most(previous: str | None, reason: str, count: int,
                                                                 quarantined: bool) -> None:
    before = None if previous is None else failures.crashed(None, Crash(token=C.token, step="evolve", seq=9),
                                                             20, now=5.0)
    rec = failures.crashed(before, Crash(token=C.token, step="evolve", seq=9, reason=reason), 30, now=10.0)
    assert (rec.count, rec.quarantined, rec.seq, rec.hwm, rec.announced) == (count, quarantined, 9, 30, False)


@pytest.mark.parametrize(("started", "reason", "now", "judged"), [
    (1_000.0, "crash", 1_010.0, False),  # not yet
    (1_000.0, "crash", 1_020.0, True),
    (1_000.0, "timeout", 1_100.0, False),  # already judged: waits for the restarted controller
    (0.0, "crash", 1e12, False),  # no start time: nothing to judge
])
def test_a_step_held_past_the_deadline_is_judged_a_timeout(started: float, reason: str, now: float,
                                                           judged: bool) -> None:
    got = overdue(Crash(token=C.token, step="decide", started=started, reason=reason), now, kill_after=15)
    assert (got is not None) is judged
    if got is not None:
        assert got.reason == "timeout" and "20s" in got.message and got.token == C.token


def test_the_step_a_predecessor_died_in_is_not_judged_against_its_successor() -> None:
    """A controller that exited in `decide` left its record; its successor, still starting past the deadline,
    is not killed for it (the record says "crash", and the successor takes it up)."""
    died = Crash(token=C.token, step="decide", started=1_000.0)
    assert overdue(died, 1_020.0, kill_after=15, since=1_005.0) is None
    assert overdue(died, 1_020.0, kill_after=15, since=999.0) is not None  # its own step: judged


def test_step_folds_then_decides_once() -> None:
    a = kernel.Actor(C, _ctrl())
    outcome = kernel.step(a, [(1, C_SPEC, spec("write")), (2, subjects.obs(C), spec("write"))], 100.0)
    assert isinstance(outcome, Decision) and len(kernel.writes(a, outcome)) == 3
    assert a.state.folds == 2 and a.causes == [1, 2]


def test_backoff_stays_at_its_cap_however_many_attempts() -> None:
    """2 ** 1024 does not fit a float: a resource waiting long enough used to make its own requeue raise."""
    assert 0.0 <= backoff(1025, C.token, base=0.5, cap=5.0) <= 5.0
    assert 0.0 <= backoff(10**6, C.token) <= 30.0
