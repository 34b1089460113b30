"""Retention's pure rules (issue #26): segments and their index, subject matching, what holds a message in
the stream, and which purges take archived messages out while keeping every fenced subject's last one."""
from __future__ import annotations

import pytest

from core import durations, retention, segments
from core.retention import Hold
from core.stored import StoredMessage


def msg(seq: int, subject: str, t: float = 0.0) -> StoredMessage:
    return StoredMessage(seq, subject, {"Bosun-Type": "x"}, b'{"type":"x","n":%d}' % seq, t)


def test_a_segment_round_trips_without_its_reads_headers_and_its_index_finds_subjects() -> None:
    batch = [msg(5, "bosun.ev.gpupool.infra.a.spec"),
             msg(6, "bosun.ev.gpupool.infra.b.obs"), msg(7, "bosun.cmd.sim.gpupool.infra.a")]
    batch[0].headers["Nats-Num-Pending"] = "3"
    body, raw = segments.encode(batch)
    back = segments.decode(body)
    assert [m.seq for m in back] == [5, 6, 7]
    assert "Nats-Num-Pending" not in back[0].headers and back[1] == batch[1]
    index = segments.decode_index(segments.encode_index(segments.index_of(3, 7, batch, raw)))
    assert (index.lo, index.hi, index.messages) == (3, 7, 3)
    assert index.seqs("bosun.ev.gpupool.infra.a.>") == [5]
    assert index.seqs("bosun.cmd.*.gpupool.infra.a") == [7]
    assert index.seqs(">") == [5, 6, 7] and index.seqs("bosun.>", 6, 6) == [6]


@pytest.mark.parametrize(("pattern", "subject", "expected"), [
    ("bosun.ev.*.*.*.spec", "bosun.ev.k.ns.n.spec", True),
    ("bosun.ev.*.*.*.spec", "bosun.ev.k.ns.n.ctl.c", False),
    ("bosun.ev.k.ns.n.>", "bosun.ev.k.ns.n.ctl.c", True),
    ("bosun.ev.k.ns.n.>", "bosun.ev.k.ns.n", False),
    ("bosun.audit.>", "bosun.audit.team-a", True),
    (">", "anything.at.all", True),
])
def test_subject_matching_is_nats_matching(pattern: str, subject: str, expected: bool) -> None:
    assert segments.matches(pattern, subject) is expected


def test_names_sort_as_ranges_and_parse_back() -> None:
    names = [segments.name(segments.SEGMENT, lo, hi) for lo, hi in ((1, 9), (10, 100), (101, 1000))]
    assert sorted(names) == names
    assert segments.parse_name(names[1]) == ("seg", 10, 100) and segments.parse_name("read-model") is None


def test_consumers_hold_only_with_something_left_and_checkpoints_always() -> None:
    assert retention.consumer_hold("driver-sim", acked=40, pending=0, unacked=0) is None
    held = retention.consumer_hold("projector", acked=40, pending=7, unacked=0)
    assert held is not None and held.seq == 40
    holds = retention.checkpoint_holds({"p.0": b"12", "p.1": b'{"seq": 30, "timers": {}}', "q.x": b"{}",
                                        "autoscaler.p.3": b'{"seq": 9}'})
    assert sorted((h.name, h.seq) for h in holds) == [("autoscaler.p.3", 9), ("p.0", 12), ("p.1", 30)]
    lowest = retention.lowest([held, *holds, None])
    assert lowest is not None and lowest.name == "autoscaler.p.3"
    assert retention.age_hold(50, time=100.0, now=200.0, retain=60.0) is None
    young = retention.age_hold(50, time=100.0, now=130.0, retain=60.0)
    assert isinstance(young, Hold) and (young.kind, young.seq) == ("retention", 49)


def test_purges_keep_the_last_message_of_every_fenced_subject() -> None:
    spec, ctl = "bosun.ev.gpupool.infra.a.spec", "bosun.ev.gpupool.infra.a.ctl.gpupools"
    cmd, obs = "bosun.cmd.sim.gpupool.infra.a", "bosun.ev.gpupool.infra.a.obs"
    plan = dict(retention.purges([spec, ctl, cmd, obs, "bosun.odd"], through=100,
                                 lasts={spec: 40, ctl: 150, cmd: 100}))
    assert plan[spec] == 40  # its last message (40) stays: If-Match keeps its meaning
    assert plan[ctl] == 101  # its last is beyond the archived range: everything archived goes
    assert plan[cmd] == 100  # the last, exactly at the range's end, stays
    assert plan["bosun.ev.*.*.*.obs"] == 101 and obs not in plan  # nobody fences on observations
    assert plan["bosun.odd"] == 101
    assert [s for s in (spec, ctl, cmd) if retention.fenced(s)] == [spec, ctl, cmd] and not retention.fenced(obs)


def test_a_fenced_subject_whose_last_message_is_unknown_is_left_alone() -> None:
    assert "bosun.ev.k.n.x.spec" not in dict(retention.purges(["bosun.ev.k.n.x.spec"], through=9, lasts={}))


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h30m", 5400), ("30d", 2592000),
                                               ("2", 2), ("1w", 604800), ("500ms", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert durations.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "-5s", "0", "s", "1h-"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        durations.parse(text)
    assert durations.render(86400) == "1d" and durations.render(90) == "90s"
