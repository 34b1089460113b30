"""Read-model generations on disk: `<db_dir>/gen-<N>.db` plus the pointer file `<db_dir>/CURRENT`.

A rebuild writes a new generation beside the live one and flips CURRENT with `os.replace`, which is
atomic: readers see the old or the new generation, never an empty or half-built one. SQLite files are
never renamed (their -wal/-shm companions follow names, not inodes); old ones are deleted instead.
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

POINTER = "CURRENT"
_GEN_FILE = re.compile(r"^gen-(\d+)\.db$")
_COMPANIONS = ("", "-wal", "-shm", "-journal")


def path(db_dir: Path, generation: int) -> Path:
    return db_dir / f"gen-{generation}.db"


def current(db_dir: Path) -> int | None:
    """The live generation, or None before the first projector ever ran."""
    try:
        text = (db_dir / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    found = _GEN_FILE.match(text)
    return int(found.group(1)) if found else None


def flip(db_dir: Path, generation: int) -> None:
    """Point CURRENT at `generation`, durably and atomically."""
    tmp = db_dir / f"{POINTER}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{path(db_dir, generation).name}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, db_dir / POINTER)
    fd = os.open(db_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def on_disk(db_dir: Path) -> list[int]:
    """Every generation with a database file in `db_dir`, ascending."""
    found = (_GEN_FILE.match(p.name) for p in db_dir.glob("gen-*.db"))
    return sorted(int(m.group(1)) for m in found if m)


def remove(db_dir: Path, generation: int) -> None:
    base = path(db_dir, generation)
    for suffix in _COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{base}{suffix}")


def next_generation(db_dir: Path) -> int:
    return max([current(db_dir) or 0, *on_disk(db_dir)]) + 1
