"""The gateway's apply rounds (`gateway/admission/elections.py`) against a real nats-server: a round whose
append nobody answers — what an append routed to a stream leader killed mid-request looks like — is given up
after its bound and sent again with the same `Nats-Msg-Id`, and the write lands once."""
from __future__ import annotations

import pytest

from core import subjects
from core.events import StatusUpdated
from core.log import ACK_TIMEOUT, Log, Unavailable, attempt_within
from core.names import Ref
from gateway.admission import elections

REF = Ref("modeldeployment", "team-a", "rounds")
SWALLOWED = "bosun.test.swallowed"
"""Not a subject of the stream: a plain subscriber takes the PUB and never answers (interest, so no 503)."""


async def test_an_unanswered_round_is_given_up_and_the_next_lands_once(log: Log,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sink = await log.nc.subscribe(SWALLOWED)
    monkeypatch.setattr(elections, "ATTEMPT", 0.2)
    ctl = subjects.ctl(REF, "deployments")
    sent: list[str] = []

    async def attempt() -> int:
        subject = SWALLOWED if not sent else ctl  # the first round's PUB is lost; the next reaches the leader
        sent.append(subject)
        return (await log.append(subject, StatusUpdated(observed_generation=1, phase="Progressing"),
                                 expected_last_subject_seq=0, msg_id="request/1")).seq

    # Unbounded, the first round alone would wait the whole ack timeout, past this deadline: a 503.
    seq = await elections.through_elections(attempt, within=ACK_TIMEOUT - 1)
    assert sent == [SWALLOWED, ctl]
    assert await sink.next_msg(timeout=1)  # the lost round really was sent
    again = await elections.through_elections(attempt, within=ACK_TIMEOUT - 1)  # the client's own resend
    assert again == seq
    stored = [m.seq async for m in log.read(ctl)]
    assert stored == [seq]


async def test_a_bounded_append_nobody_answers_leaves_nothing_waiting(log: Log) -> None:
    await log.nc.subscribe(SWALLOWED)
    with attempt_within(0.2), pytest.raises(Unavailable, match="not acknowledged"):
        await log.publish(SWALLOWED, b"x", {})
    assert log.replies.waiting == {}  # nothing left waiting for an ack that will never come
