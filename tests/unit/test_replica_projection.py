"""Replicas as data: the pure fold (given messages, then the row), the table over a real SQLite file, the spend
series, and the bounded log tail both sides share."""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from core import codec, logtail, subjects
from core.events import Event
from core.log import StoredMessage
from core.names import Ref
from core.replicas import (
    Launch,
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStartFailed,
    ReplicaStopped,
    StartProcess,
    StartReplica,
    StopReplica,
)
from projections import replica_table, schema
from projections.replicas import Body, Replica, fold, message_of, to_api
from projections.spend import series

REF = Ref("modeldeployment", "demo", "echo")
T0 = 1_800_000_000.0


def body(**fields: Any) -> Body:
    return Body(replica="echo-1", pool="infra/local", **fields)


def run(steps: Sequence[tuple[str, Body, str]]) -> Replica | None:
    row: Replica | None = None
    for i, (type_, b, driver) in enumerate(steps):
        row = fold(row, type_, b, T0 + i, driver)
    return row


def test_a_process_replica_is_asked_for_started_with_its_pid_then_ready() -> None:
    row = run([("replica.start-process", body(gpus=1, model="tiny", generation=3), "process"),
               ("replica.started", body(pid=4242, port=35001, devices=("0",)), ""),
               ("replica.ready", body(), "")])
    assert row == Replica(replica="echo-1", pool="infra/local", driver="process", pid=4242, port=35001,
                          devices=("0",), gpus=1, model="tiny", generation=3, state="ready", requested_at=T0,
                          started_at=T0 + 1, ready_at=T0 + 2)


@pytest.mark.parametrize(("steps", "state", "error"), [
    ([("replica.stop", body(), "process"), ("replica.stopped", body(), "")], "stopped", ""),
    ([("replica.lost", body(reason="killed by SIGKILL"), "")], "lost", "killed by SIGKILL"),
    ([("replica.stop", body(), "process")], "stopping", ""),
    ([("replica.start-failed", body(reason="exited with code 3", attempt=2), "")], "restarting", "exited with code 3"),
])
def test_what_happens_after_ready(steps: list[tuple[str, Body, str]], state: str, error: str) -> None:
    started = [("replica.start", body(gpus=1), "sim"), ("replica.started", body(pid=7), ""),
               ("replica.ready", body(), "")]
    row = run([*started, *steps])
    assert row is not None and row.state == state and row.last_error == error
    assert (row.ended_at is not None) == (state in ("stopped", "lost"))


def test_a_failed_start_forgets_the_dead_process_and_the_retry_brings_a_new_pid() -> None:
    row = run([("replica.start-process", body(gpus=1), "process"),
               ("replica.started", body(pid=100, port=9000), ""),
               ("replica.start-failed", body(reason="exited with code 1", attempt=1), ""),
               ("replica.started", body(pid=101, port=9001), "")])
    assert row is not None
    assert (row.state, row.pid, row.port, row.attempts, row.started_at) == ("starting", 101, 9001, 1, T0 + 3)
    assert row.last_error == "exited with code 1"  # still shown: why it restarted


def test_a_re_report_without_where_keeps_what_is_known_and_never_revives_an_ended_replica() -> None:
    ready = run([("replica.start", body(), "process"), ("replica.started", body(pid=55, port=8000), ""),
                 ("replica.ready", body(), ""), ("replica.started", body(), "")])  # an older event shape
    assert ready is not None and (ready.state, ready.pid, ready.port) == ("ready", 55, 8000)
    lost = fold(fold(ready, "replica.lost", body(reason="drift"), T0 + 9), "replica.ready", body(), T0 + 10)
    lost = fold(lost, "replica.stopped", body(), T0 + 11)
    assert lost is not None and (lost.state, lost.ended_at, lost.last_error) == ("lost", T0 + 9, "drift")


def test_a_new_start_after_the_end_is_a_new_incarnation_and_observations_alone_make_a_row() -> None:
    ended = run([("replica.start", body(gpus=2), "sim"), ("replica.stopped", body(), "")])
    again = fold(ended, "replica.start", body(gpus=1), T0 + 5, "sim")
    assert again is not None and (again.state, again.gpus, again.ended_at, again.requested_at) == \
        ("requested", 1, None, T0 + 5)
    orphan = fold(None, "replica.ready", body(), T0)  # its start predates the log's retention
    assert orphan is not None and orphan.state == "ready"
    assert fold(None, "replica.ready", Body(), T0) is None  # no replica id: nothing to say


def message(seq: int, subject: str, event: Event) -> StoredMessage:
    return StoredMessage(seq, subject, codec.event_headers(event, T0 + seq), codec.encode(event), T0 + seq)


def test_only_replica_commands_and_driver_observations_are_read() -> None:
    start = StartReplica(replica="echo-1", pool="infra/p", gpus=1, model="m", generation=1)
    assert message_of(message(1, subjects.cmd("sim", REF), start)) == (("modeldeployment", "demo", "echo"),
                                                                       "replica.start", "sim")
    assert message_of(message(2, subjects.obs(REF), ReplicaReady(replica="echo-1", pool="infra/p"))) == \
        (("modeldeployment", "demo", "echo"), "replica.ready", "")
    assert message_of(message(3, subjects.ctl(REF, "deployments"), ReplicaReady(replica="x", pool="p"))) is None


def test_api_items_carry_rfc3339_times_and_null_for_what_is_unknown() -> None:
    item = to_api(Replica(replica="echo-1", requested_at=T0))
    assert item["requestedAt"] == "2027-01-15T08:00:00.000Z" and item["startedAt"] is None and item["pid"] is None


def test_the_table_folds_batches_and_keeps_only_the_newest_ended_replicas(tmp_path: Path) -> None:
    db = schema.connect_writer(tmp_path / "rm.db")
    launch = Launch(command=("python3", "x.py"))
    seq = 0

    def write(*events: tuple[str, Event]) -> None:
        nonlocal seq
        batch = []
        for subject, event in events:
            seq += 1
            batch.append(message(seq, subject, event))
        db.execute("BEGIN")
        replica_table.write(db, batch)
        db.execute("COMMIT")

    cmd, obs = subjects.cmd("process", REF), subjects.obs(REF)
    write((cmd, StartProcess(replica="echo-1", pool="infra/local", gpus=1, model="m", generation=1, launch=launch)),
          (obs, ReplicaStarted(replica="echo-1", pool="infra/local", pid=300, port=4000, devices=("2",))))
    write((obs, ReplicaReady(replica="echo-1", pool="infra/local")))
    for i in range(2, replica_table.KEEP_ENDED + 5):  # churn: many short-lived replicas
        rid = f"echo-{i}"
        write((cmd, StartProcess(replica=rid, pool="infra/local", gpus=1, model="m", generation=1, launch=launch)),
              (obs, ReplicaStartFailed(replica=rid, pool="infra/local", reason="boom", attempt=1, retry_in=1.0)),
              (cmd, StopReplica(replica=rid, pool="infra/local")),
              (obs, ReplicaStopped(replica=rid, pool="infra/local") if i % 2 else
               ReplicaLost(replica=rid, pool="infra/local", reason="gone")))
    rows = db.execute("SELECT live, count(*) FROM replicas GROUP BY live ORDER BY live").fetchall()
    assert rows == [(0, replica_table.KEEP_ENDED), (1, 1)]

    async def fetch(sql: str, params: Sequence[Any]) -> list[Any]:
        return db.execute(sql, params).fetchall()

    items = asyncio.run(replica_table.query(fetch, "modeldeployment", "demo", "echo", ended=3))
    assert [(i["replica"], i["state"], i["pid"], i["devices"]) for i in items[:1]] == [("echo-1", "ready", 300, ["2"])]
    last = replica_table.KEEP_ENDED + 4
    assert [i["replica"] for i in items[1:]] == [f"echo-{last}", f"echo-{last - 1}", f"echo-{last - 2}"]
    assert items[1]["state"] == ("stopped" if last % 2 else "lost") and items[1]["lastError"] in ("boom", "gone")
    db.close()
    with sqlite3.connect(tmp_path / "rm.db") as again:  # the DDL is idempotent: reopening keeps the rows
        assert again.execute("SELECT count(*) FROM replicas").fetchone()[0] == replica_table.KEEP_ENDED + 1


def test_spend_over_time_sweeps_starts_and_stops() -> None:
    lifetimes = [(2, 3.0, 0.0, 3600.0), (1, 10.0, 1800.0, None)]  # 2 GPUs at $3 for an hour; 1 at $10 from 30 min
    points = series(lifetimes, None, 7200.0, 5)
    assert [p.at for p in points] == [0.0, 1800.0, 3600.0, 5400.0, 7200.0]
    assert [p.gpus for p in points] == [2, 3, 1, 1, 1]
    assert [p.cost_per_hour for p in points] == [6.0, 16.0, 10.0, 10.0, 10.0]
    assert [round(p.cost, 6) for p in points] == [0.0, 3.0, 11.0, 16.0, 21.0]
    assert series([], None, 10.0, 5) == []
    window = series(lifetimes, 3600.0, 7200.0, 3)
    assert [(p.at, p.gpus, round(p.cost, 6)) for p in window] == [(3600.0, 1, 11.0), (5400.0, 1, 16.0),
                                                                   (7200.0, 1, 21.0)]


def test_a_log_tail_is_bounded_in_lines_line_length_and_bytes() -> None:
    assert logtail.tail(b"a\nb\nc\n", 2, at_start=True) == (["b", "c"], True)
    assert logtail.tail(b"a\nb\r\nc", 5, at_start=True) == (["a", "b", "c"], False)
    assert logtail.tail(b"rtial\nwhole\n", 5, at_start=False) == (["whole"], True)  # read from mid-line
    long = b"x" * (logtail.MAX_LINE * 3) + b"\n"
    lines, _ = logtail.tail(long * 200, logtail.MAX_LINES, at_start=True)
    assert all(len(line) == logtail.MAX_LINE for line in lines)
    assert sum(len(line) + 1 for line in lines) <= logtail.MAX_REPLY
    assert logtail.tail(b"\xff\xfe bad utf-8\n", 1, at_start=True) == (["\ufffd\ufffd bad utf-8"], False)
