"""Writer and read API over real SQLite files (no NATS): filters, pages, history from the end, watch feed,
redelivery, and readers following a generation swap."""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core import codec, subjects
from core.events import Condition, DeletionRequested, Event, FinalizerRemoved, SpecApplied, StatusUpdated
from core.log import StoredMessage
from core.names import Ref
from core.replicas import ReplicaReady
from projections import generations, pages, schema, selectors
from projections import store as writing
from projections.readmodel import ChangesExpired, ReadModel
from projections.store import Writer

FIN = "deployments.bosun.dev/replicas"


class Feed:
    """Stored messages with consecutive sequences, as the stream would hold them."""

    def __init__(self) -> None:
        self.messages: list[StoredMessage] = []

    def add(self, subject: str, event: Event) -> StoredMessage:
        seq = len(self.messages) + 1
        now = 1_700_000_000.0 + seq
        m = StoredMessage(seq, subject, codec.event_headers(event, now), codec.encode(event), now)
        self.messages.append(m)
        return m

    def create(self, ns: str, name: str, labels: dict[str, str], phase: str | None = None) -> Ref:
        ref = Ref("modeldeployment", ns, name)
        self.add(subjects.spec(ref), SpecApplied(generation=1, spec={"replicas": 1}, labels=labels, created=True))
        if phase:
            self.add(subjects.ctl(ref, "deployments"), StatusUpdated(
                observed_generation=1, phase=phase, conditions=(Condition(type="Ready", status="True"),)))
        return ref


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Writer, ReadModel]]:
    writer = await Writer.open(generations.path(tmp_path, 1))
    generations.flip(tmp_path, 1)
    reads = await ReadModel.open(tmp_path)
    yield writer, reads
    await reads.close()
    await writer.close()


async def test_empty_directory_answers_empty(tmp_path: Path) -> None:
    reads = await ReadModel.open(tmp_path)
    try:
        assert await reads.get("modeldeployment", "a", "b") is None
        assert await reads.list("modeldeployment") == ([], None)
        assert await reads.history("modeldeployment", "a", "b") == ([], None)
        assert await reads.checkpoint() == 0 and await reads.changed_since(0) == []
        assert await reads.wait_for(1, 0.1) is False
    finally:
        await reads.close()


async def test_list_filters_and_pagination(store: tuple[Writer, ReadModel]) -> None:
    writer, reads = store
    feed = Feed()
    for ns in ("b", "a"):
        for i in range(5):
            feed.create(ns, f"m{i}", {"app": "chat" if i % 2 else "web", **({"canary": "1"} if i == 3 else {})},
                        phase="Ready" if i < 2 else None)
    await writer.apply(feed.messages)
    names = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in (await reads.list("md"))[0]]
    assert names == sorted(names) and len(names) == 10
    ns_b, _ = await reads.list("ModelDeployment", "b", "app=chat")
    assert [o["metadata"]["name"] for o in ns_b] == ["m1", "m3"]
    assert [o["metadata"]["name"] for o in (await reads.list("md", "b", "app=chat,!canary"))[0]] == ["m1"]
    assert [o["metadata"]["name"] for o in (await reads.list("md", "b", "app!=chat,canary"))[0]] == []
    assert [o["metadata"]["name"] for o in (await reads.list("md", "a", "canary"))[0]] == ["m3"]
    assert len((await reads.list("md", None, None, "Ready"))[0]) == 4
    assert len((await reads.list("md", None, None, "Pending"))[0]) == 6
    seen: list[tuple[str, str]] = []
    token: str | None = None
    while True:
        page, token = await reads.list("modeldeployments", None, "app=chat", None, 3, token)
        seen += [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in page]
        if token is None:
            break
    assert seen == [("a", "m1"), ("a", "m3"), ("b", "m1"), ("b", "m3")]
    with pytest.raises(pages.BadContinue):
        await reads.list("md", "a", None, None, 3, (await reads.list("md", None, None, None, 1))[1])
    with pytest.raises(selectors.BadSelector):
        await reads.list("md", None, "a b")


async def test_redelivered_batch_changes_nothing(store: tuple[Writer, ReadModel]) -> None:
    writer, reads = store
    feed = Feed()
    feed.create("a", "x", {"app": "chat"}, phase="Ready")
    assert await writer.apply(feed.messages) == 2
    before = await reads.get("md", "a", "x")
    assert await writer.apply(feed.messages) == 2  # everything <= checkpoint is skipped
    assert await reads.get("md", "a", "x") == before
    assert len((await reads.history("md", "a", "x"))[0]) == 2
    assert [c.seq for c in await reads.changed_since(0)] == [1, 2]
    assert await writer.apply([], through=7) == 7  # gaps (deleted messages) still move the checkpoint
    assert await reads.checkpoint() == 7


def vm_steps(db_file: Path, sql: str, params: Any) -> int:
    """SQLite virtual-machine instructions (in hundreds) one query costs: a measure of the work done that,
    unlike a stopwatch, does not depend on how loaded the machine is."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    with contextlib.closing(sqlite3.connect(db_file)) as db:
        db.set_progress_handler(tick, 100)
        db.execute(sql, params).fetchall()
    return steps


async def test_history_pages_forward_and_from_the_end_of_a_100k_timeline(store: tuple[Writer, ReadModel],
                                                                         tmp_path: Path) -> None:
    writer, reads = store
    feed = Feed()
    ref = feed.create("a", "busy", {})
    other = feed.create("a", "quiet", {})
    for i in range(100_000):
        feed.add(subjects.obs(ref), ReplicaReady(replica=f"r{i}", pool="infra/p"))
    feed.add(subjects.spec(other), DeletionRequested(generation=2))
    for start in range(0, len(feed.messages), 5000):
        await writer.apply(feed.messages[start:start + 5000])

    queries: list[tuple[str, Any]] = []
    fetch = reads._fetch

    async def recorded(sql: str, params: Any) -> Any:
        queries.append((sql, params))
        return await fetch(sql, params)

    reads._fetch = recorded  # type: ignore[method-assign]
    last, older = await reads.history("md", "a", "busy", limit=50, tail=True)
    assert [i["seq"] for i in last] == list(range(100_002 - 49, 100_003))
    assert last[-1]["summary"] == "r99999 ready on infra/p" and older is not None
    # The newest page of 100k events costs what a page costs (an index range read backwards), not a scan:
    # a few hundred VM instructions here, where reading the busy timeline once costs ~2000x more.
    db_file = generations.path(tmp_path, 1)
    tail_cost = vm_steps(db_file, *queries[-1])
    scan_cost = vm_steps(db_file, "SELECT count(*), max(length(item)) FROM timeline WHERE name = 'busy'", ())
    assert tail_cost * 20 < scan_cost, (tail_cost, scan_cost)
    previous, _ = await reads.history("md", "a", "busy", limit=50, continue_token=older, tail=True)
    assert previous[-1]["seq"] == last[0]["seq"] - 1 and len(previous) == 50

    first, token = await reads.history("md", "a", "busy", limit=2)
    assert [i["seq"] for i in first] == [1, 3] and token is not None
    assert [i["seq"] for i in (await reads.history("md", "a", "busy", 2, token))[0]] == [4, 5]
    assert [i["seq"] for i in (await reads.history("md", "a", "busy", 3, since_seq=100_000))[0]] == [100_001,
                                                                                                    100_002]
    typed, _ = await reads.history("md", "a", "busy", 10, types=["spec.applied"], tail=True)
    assert [i["type"] for i in typed] == ["spec.applied"]
    with pytest.raises(pages.BadContinue):
        await reads.history("md", "a", "busy", limit=50, continue_token=older, tail=False)
    # the quiet one was deleted (history survives), the busy one was not
    assert [i["type"] for i in (await reads.history("md", "a", "quiet"))[0]] == ["spec.applied",
                                                                                 "deletion.requested"]


async def test_changes_feed_reports_deleted_with_last_state(store: tuple[Writer, ReadModel]) -> None:
    writer, reads = store
    feed = Feed()
    ref = feed.create("a", "x", {"app": "chat"}, phase="Ready")
    feed.create("b", "y", {"app": "web"})
    feed.add(subjects.spec(ref), DeletionRequested(generation=2))
    feed.add(subjects.ctl(ref, "deployments"), FinalizerRemoved(finalizer=FIN))
    await writer.apply(feed.messages)
    assert await reads.get("md", "a", "x") is None
    changes = await reads.changed_since(0, "modeldeployment", None, "app=chat")
    assert [(c.seq, c.type) for c in changes] == [(1, "ADDED"), (2, "MODIFIED"), (4, "MODIFIED"), (5, "DELETED")]
    last = changes[-1].object
    assert last["metadata"]["deletionRequested"] is True and last["metadata"]["finalizers"] == []
    assert [c.seq for c in await reads.changed_since(4)] == [5]
    assert [c.seq for c in await reads.changed_since(0, namespace="b")] == [3]
    assert [c.seq for c in await reads.changed_since(0, phase="Pending")] == [1, 3]
    assert [c.seq for c in await reads.changed_since(0, label_selector="app!=chat")] == [3]


async def test_reader_follows_a_generation_swap(tmp_path: Path, store: tuple[Writer, ReadModel]) -> None:
    writer, reads = store
    feed = Feed()
    feed.create("a", "old", {})
    await writer.apply(feed.messages)
    assert await reads.get("md", "a", "old") is not None and reads.generation == 1
    fresh = await Writer.open(generations.path(tmp_path, 2))
    try:
        feed.create("a", "new", {})
        await fresh.apply(feed.messages)
        generations.flip(tmp_path, 2)
    finally:
        await fresh.close()
    assert await reads.get("md", "a", "new") is not None and reads.generation == 2
    generations.remove(tmp_path, 1)
    assert await reads.checkpoint() == 2


async def test_watch_yields_changes_then_heartbeats(store: tuple[Writer, ReadModel]) -> None:
    writer, reads = store
    feed = Feed()
    feed.create("a", "x", {"app": "chat"}, phase="Ready")
    await writer.apply(feed.messages)
    seen: list[object] = []
    async with contextlib.aclosing(reads.watch(0, kind="md", heartbeat=0.1)) as changes:
        async for change in changes:
            seen.append(None if change is None else (change.seq, change.type))
            if change is None:
                break
    assert seen == [(1, "ADDED"), (2, "MODIFIED"), None]


def tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in schema.TABLES}
    finally:
        db.close()


def busy_feed() -> Feed:
    """Creates, status changes, relabels, a deletion through finalizers and a re-creation."""
    feed = Feed()
    refs = [feed.create("a", f"m{i}", {"app": f"a{i}"}, phase="Progressing") for i in range(4)]
    for i, ref in enumerate(refs):
        feed.add(subjects.ctl(ref, "deployments"), StatusUpdated(
            observed_generation=1, phase="Ready", conditions=(Condition(type="Ready", status="True"),)))
        feed.add(subjects.spec(ref), SpecApplied(generation=2, spec={"replicas": 2}, labels={"tier": str(i)}))
    feed.add(subjects.spec(refs[0]), DeletionRequested(generation=3))
    feed.add(subjects.ctl(refs[0], "deployments"), FinalizerRemoved(finalizer=FIN))
    feed.add(subjects.spec(refs[0]), SpecApplied(generation=1, spec={"replicas": 1}, labels={"again": "1"},
                                                 created=True))
    feed.add(subjects.obs(refs[1]), ReplicaReady(replica="r", pool="infra/p"))
    return feed


async def written_in(tmp_path: Path, name: str, feed: Feed, size: int, reopen_at: int | None = None) -> Path:
    path = generations.path(tmp_path / name, 1)
    path.parent.mkdir()
    writer = await Writer.open(path)
    try:
        for start in range(0, len(feed.messages), size):
            if start == reopen_at:
                await writer.close()
                writer = await Writer.open(path)
            await writer.apply(feed.messages[start:start + size])
    finally:
        await writer.close()
    return path


async def test_batch_sizes_reopening_and_forgetting_rows_change_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = busy_feed()
    whole = tables(await written_in(tmp_path, "whole", feed, len(feed.messages)))
    assert whole["labels"] and any(t == "DELETED" for _, _, _, _, t, _, _ in whole["changes"])
    assert tables(await written_in(tmp_path, "ones", feed, 1)) == whole
    monkeypatch.setattr(writing, "ROWS_KEPT", 2)  # remembered rows are forgotten, then read back
    assert tables(await written_in(tmp_path, "threes", feed, 3, reopen_at=9)) == whole


async def test_change_feed_keeps_the_newest_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = busy_feed()
    everything = tables(await written_in(tmp_path, "unpruned", feed, len(feed.messages)))
    monkeypatch.setattr(writing, "RETAIN_CHANGES", 5)
    path = await written_in(tmp_path, "pruned", feed, 4, reopen_at=8)  # counted again after reopening
    kept = tables(path)
    all_changes = sorted(everything["changes"], key=lambda c: int(str(c[0])))
    seqs = [int(str(c[0])) for c in all_changes]
    assert sorted(kept["changes"], key=repr) == sorted(all_changes[-5:], key=repr)
    assert kept["meta"] == [("changes_horizon", str(seqs[-6]))]
    assert {t: rows for t, rows in kept.items() if t not in ("changes", "meta")} == \
        {t: rows for t, rows in everything.items() if t not in ("changes", "meta")}
    generations.flip(path.parent, 1)
    reads = await ReadModel.open(path.parent)
    try:
        assert [c.seq for c in await reads.changed_since(seqs[-6])] == seqs[-5:]
        with pytest.raises(ChangesExpired):
            await reads.changed_since(seqs[-7])
    finally:
        await reads.close()


async def test_a_failed_batch_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = busy_feed()
    path = generations.path(tmp_path / "failed", 1)
    path.parent.mkdir()
    writer = await Writer.open(path)
    try:
        assert await writer.apply(feed.messages[:6]) == 6

        def broken(*_: object) -> None:
            raise sqlite3.OperationalError("disk on fire")

        monkeypatch.setattr("projections.audit.write", broken)
        with pytest.raises(sqlite3.OperationalError):
            await writer.apply(feed.messages[6:12])
        assert writer.checkpoint == 6
        monkeypatch.undo()
        assert await writer.apply(feed.messages[6:]) == len(feed.messages)
    finally:
        await writer.close()
    assert tables(path) == tables(await written_in(tmp_path, "whole", feed, len(feed.messages)))
