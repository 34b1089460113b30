"""Reading replica logs: one file per replica under `<data>/process/logs/<namespace>/<name>/<replica>.log`.

The files are the driver's (it opens them for the replica's stdout and stderr), so they are read on the
machine that runs the driver, like `docker logs` on a host; nothing goes through the log stream.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dataplane.process import store


def files(data_dir: Path, namespace: str, name: str, replica: str | None = None) -> dict[str, Path]:
    """Replica id -> its log file, in replica order (chat-2 before chat-10)."""
    folder = store.log_dir(data_dir) / namespace / name
    found = {p.stem: p for p in folder.glob("*.log")} if folder.is_dir() else {}
    if replica is not None:
        found = {k: v for k, v in found.items() if k == replica}
    return dict(sorted(found.items(), key=lambda kv: _numbered(kv[0])))


def read(paths: dict[str, Path], prefix: bool) -> Iterator[str]:
    for replica, path in paths.items():
        with open(path, errors="replace") as f:
            for line in f:
                yield f"[{replica}] {line.rstrip()}" if prefix else line.rstrip()


def follow(list_files: Callable[[], dict[str, Path]], prefix: bool, poll: float = 0.25,
           start_at_end: bool = True) -> Iterator[str]:
    """New lines as replicas write them, including replicas that appear later (until interrupted)."""
    offsets: dict[str, int] = {}
    first = True
    while True:
        for replica, path in list_files().items():
            if replica not in offsets:
                offsets[replica] = path.stat().st_size if (first and start_at_end) else 0
            with open(path, "rb") as f:
                f.seek(offsets[replica])
                chunk = f.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            offsets[replica] += len(complete)
            for line in complete.decode(errors="replace").splitlines():
                yield f"[{replica}] {line}" if prefix else line
        first = False
        time.sleep(poll)


def _numbered(replica: str) -> tuple[str, int]:
    head, _, tail = replica.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (replica, 0)
