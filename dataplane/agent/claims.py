"""`bosun agent --join-dir DIR`: an agent takes the first join file of DIR that no other agent holds.

Why: a scaled service (`docker compose up --scale agent=3`) starts identical containers; none knows which node
it is. An admin joins as many nodes as there will be agents into one directory (the containers mount it
read-only; no admin token ever reaches them), and each agent holds its file with an exclusive `flock` for its
whole life, so two live agents never run the same node. The kernel drops the lock when the agent dies, however
it dies; the name it took is remembered in `<data>/agent/claimed`, so a restarted agent takes the same node
again (its epoch, records and replicas are that node's).
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

REMEMBERED = "claimed"


class NoneFree(Exception):
    """Every join file of the directory is held by another agent (or there is none)."""


def claim(directory: Path, data_dir: Path) -> tuple[Path, IO[bytes]]:
    """The join file this agent takes and its open, locked handle (keep it open: closing it lets go)."""
    remembered = data_dir / "agent" / REMEMBERED
    try:
        before = remembered.read_text().strip()
    except OSError:
        before = ""
    files = sorted((p for p in directory.glob("*.json") if p.is_file()), key=lambda p: (p.name != before, p.name))
    for path in files:
        handle = open(path, "rb")  # noqa: SIM115 - held for the agent's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        remembered.parent.mkdir(parents=True, exist_ok=True)
        tmp = remembered.with_suffix(".tmp")
        tmp.write_text(path.name)
        os.replace(tmp, remembered)
        return path, handle
    raise NoneFree(f"no free join file in {directory} ({len(files)} held by other agents): join one more node "
                   f"(bosun node join NAME -o {directory}/NAME.json)")
