"""`<data>/run/components.json`: what the supervisor knows about each child, for an on-call engineer.

Why a file: a crash loop (a controller whose kind kills its process) must be visible without reading
the supervisor's log; `bosun up` rewrites it whenever a child starts or exits. Fields per component:
pid (null while waiting to restart), state (running, backoff, waiting for another, done: a one-shot that
succeeded, stopped: an exit that restarting cannot help, with its `reason`), restarts, consecutive failures,
the last exit code and when, and when the next start is due.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write(run_dir: Path, children: Iterable[Any], exits: dict[str, tuple[int | None, float, int]]) -> None:
    """Atomically rewrite the file; `exits` maps a child to (last exit code, wall time, restarts)."""
    now_mono, now = time.monotonic(), time.time()
    doc: dict[str, Any] = {}
    for child in children:
        code, when, restarts = exits.get(child.name, (None, 0.0, 0))
        proc = child.proc
        doc[child.name] = {
            "pid": proc.pid if proc is not None and proc.poll() is None else None,
            "state": _state(child),
            "restarts": restarts, "failures": child.failures, "lastExitCode": code,
            "lastExitAt": _iso(when) if when else None,
            "restartAt": _iso(now + child.restart_at - now_mono) if child.restart_at is not None else None,
            **({"reason": child.stopped} if getattr(child, "stopped", "") else {}),
        }
    tmp = run_dir / f".components.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(run_dir / "components.json")


def _state(child: Any) -> str:
    """running; done (a one-shot that succeeded); waiting (held until another is done); else backoff."""
    if child.proc is not None and child.proc.poll() is None:
        return "running"
    if getattr(child, "done", False):
        return "done"
    if getattr(child, "stopped", ""):
        return "stopped"
    return "waiting" if getattr(child, "held", False) else "backoff"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
