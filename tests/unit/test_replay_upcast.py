"""Schema evolution under replay: a stored history holding a v1 body of an event whose type is now v2
replays (fold, time travel, decision check) through the codec's upcaster registry."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import msgspec
import pytest
from msgspec.structs import replace

from actors.controller import DEFAULT, Controller
from actors.decisions import Context, Decision
from analysis import replay
from core import codec, subjects
from core import headers as H
from core.events import Event, SpecApplied, StatusUpdated
from core.kinds import KindInfo
from core.log import StoredMessage
from core.names import Ref
from projections.reducer import decode as reducer_decode


class ToyBumped(Event, frozen=True, tag="toy.bumped"):
    """v1 was `{"n": int}`; v2 renamed it to `amount` and added `reason`."""

    version: ClassVar[int] = 2
    amount: int
    reason: str = ""


@codec.upcaster("toy.bumped", 1)
def _v1_to_v2(body: dict[str, Any]) -> dict[str, Any]:
    return {"type": body["type"], "amount": body["n"], "reason": "upcast from v1"}


class ToySpec(msgspec.Struct, frozen=True):
    target: int = 3


class Toy(msgspec.Struct, frozen=True, kw_only=True):
    ref: Ref
    target: int = 0
    count: int = 0
    status: StatusUpdated | None = None


def _evolve(state: Toy, event: Event) -> Toy:
    match event:
        case SpecApplied(spec=spec):
            return replace(state, target=int(spec.get("target", 0)))
        case ToyBumped(amount=a):
            return replace(state, count=state.count + a)
        case StatusUpdated():
            return replace(state, status=event)
    return state


def _decide(state: Toy, now: float, ctx: Context) -> Decision:
    phase = "Ready" if state.count >= state.target else "Progressing"
    status = StatusUpdated(observed_generation=1, phase=phase, fields={"count": state.count})
    return Decision(events=(status,)) if status != state.status else Decision()


TOY = (Controller(info=KindInfo(name="ReplayToy", plural="replaytoys", spec_type=ToySpec, events=(ToyBumped,),
                                        controller="toys"),
                          state_type=Toy, initial=lambda ref: Toy(ref=ref), evolve=_evolve, decide=_decide,
                          status_of=lambda s: s.status))
REF = Ref("replaytoy", "default", "t")


@pytest.fixture(autouse=True, scope="module")
def _registered() -> Iterator[None]:
    """The toy kind exists only while these tests run: other tests see the shipped kinds alone."""
    DEFAULT.add(TOY)
    yield
    DEFAULT._controllers.pop("replaytoy", None)
    DEFAULT._kinds.pop("replaytoy", None)
    for alias in ("replaytoy", "replaytoys"):
        DEFAULT._aliases.pop(alias, None)


def _msg(seq: int, subject: str, body: bytes, tag: str, version: int, **extra: str) -> StoredMessage:
    hdrs = {H.TYPE: tag, H.SCHEMA: str(version), H.TIME: f"{1000.0 + seq!r}", **extra}
    return StoredMessage(seq, subject, hdrs, body, 1000.0 + seq)


def _history() -> list[StoredMessage]:
    """As the host records it: observations, and the actor's status decisions with Hwm/Time."""
    ctl, obs = subjects.ctl(REF, "toys"), subjects.obs(REF)
    spec = SpecApplied(generation=1, spec={"target": 3}, created=True)
    v1 = b'{"type":"toy.bumped","n":2}'  # stored years ago, before the rename
    out = [_msg(1, subjects.spec(REF), codec.encode(spec), "spec.applied", 1),
           _msg(2, obs, v1, "toy.bumped", 1)]
    state = _evolve(_evolve(Toy(ref=REF), spec), ToyBumped(amount=2))
    first = _decide(state, 1003.0, Context()).events[0]
    out.append(_msg(3, ctl, codec.encode(first), "status.updated", 1, **{H.HWM: "2", H.TIME: repr(1003.0)}))
    out.append(_msg(4, obs, codec.encode(ToyBumped(amount=1)), "toy.bumped", 2))
    state = _evolve(_evolve(state, first), ToyBumped(amount=1))
    second = _decide(state, 1005.0, Context()).events[0]
    out.append(_msg(5, ctl, codec.encode(second), "status.updated", 1, **{H.HWM: "4", H.TIME: repr(1005.0)}))
    return out


def test_old_event_version_needs_the_upcaster() -> None:
    with pytest.raises(msgspec.ValidationError):
        DEFAULT.kind("replaytoy").decoder.decode(b'{"type":"toy.bumped","n":2}')
    upcast = codec.decode(DEFAULT.kind("replaytoy"), b'{"type":"toy.bumped","n":2}', {H.SCHEMA: "1",
                                                                                  H.TYPE: "toy.bumped"})
    assert upcast == ToyBumped(amount=2, reason="upcast from v1")
    assert codec.event_headers(ToyBumped(amount=1), 0.0)[H.SCHEMA] == "2"


def test_history_with_a_v1_event_replays_folds_and_checks() -> None:
    history = _history()
    assert reducer_decode(history[1]) == ToyBumped(amount=2, reason="upcast from v1")
    routed = replay.route(replay.decode(m) for m in history)[REF]
    assert all(r.event is not None for r in routed)
    assert replay.state_at(REF, routed, at=2).count == 2
    assert replay.state_at(REF, routed).count == 3
    steps = list(replay.steps(REF, routed))
    assert ("$.count", 0, 2) in steps[1].changes and steps[1].type == "toy.bumped"
    checked, divergences = replay.check(REF, routed)
    assert (checked, divergences) == (2, [])
