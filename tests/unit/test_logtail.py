"""The driver's side of a log tail: only the replica's own regular file, its end only, names validated."""
from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from core import logtail
from core.logtail import TailReply, TailRequest
from dataplane.base.logtail import read


def test_the_last_lines_of_the_replicas_own_file(tmp_path: Path) -> None:
    log = tmp_path / "chat-1.log"
    log.write_text("".join(f"line {i}\n" for i in range(500)))
    assert read(log, 3) == TailReply(found=True, lines=["line 497", "line 498", "line 499"], truncated=True,
                                     size=log.stat().st_size)
    assert read(tmp_path / "never-ran.log", 3) == TailReply(found=False)
    assert read(None, 3) == TailReply(found=False)


def test_only_the_end_of_a_huge_log_is_read(tmp_path: Path) -> None:
    log = tmp_path / "chatty.log"
    with open(log, "wb") as f:
        f.write(b"old\n" * 200_000)  # 800 KB
        f.write(b"newest\n")
    reply = read(log, logtail.MAX_LINES)
    assert reply.lines[-1] == "newest" and reply.truncated and len(reply.lines) == logtail.MAX_LINES
    assert sum(len(line) + 1 for line in reply.lines) <= logtail.MAX_BYTES


def test_a_symlink_planted_by_the_replica_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "nats-credentials.json"
    secret.write_text('{"driver": {"password": "hunter2"}}\n')
    log = tmp_path / "evil-1.log"
    os.symlink(secret, log)  # a replica that can write its log directory replaced its log by a link
    reply = read(log, 10)
    assert not reply.found and reply.lines == [] and "hunter2" not in msgspec.json.encode(reply).decode()
    (tmp_path / "dir-1.log").mkdir()
    assert read(tmp_path / "dir-1.log", 10).found is False


@pytest.mark.parametrize("bad", [
    {"namespace": "..", "name": "x", "replica": "x-1"},
    {"namespace": "team-a", "name": "../../etc", "replica": "x-1"},
    {"namespace": "team-a", "name": "chat", "replica": "chat-1/../../secret"},
    {"namespace": "team-a", "name": "chat", "replica": "chat-1", "lines": 10_000},
])
def test_names_that_could_walk_out_of_the_log_directory_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"kind": "modeldeployment", **bad}, TailRequest)
