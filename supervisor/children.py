"""The children `bosun up` supervises: one record per component process with its restart bookkeeping, and
the controller hosts it runs (kept apart from `tree.py`, which starts, watches and stops them)."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

STABLE_AFTER = 10.0
"""A child that ran this long before dying starts its backoff over: a crash loop dies during its start
(a few seconds), a component killed after serving for a while is restarted at once (chaos rounds kill
the same component every few seconds; at 30 s they climbed the backoff to seconds per restart)."""
MAX_BACKOFF = 10.0
log = structlog.get_logger("bosun.up")


@dataclass
class Child:
    """One supervised component process and its restart bookkeeping."""

    name: str
    args: list[str]
    pass_fds: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    """Added to the shared environment for this child only."""
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    inflight: Path | None = None
    """A controller's in-flight file: the supervisor ends it when one step holds it too long."""
    held: bool = False
    """Not started with the others: `after` (or the announce, for the first of a chain) starts it."""
    done: bool = False
    """A `once` child that has succeeded."""
    once: bool = False
    """Runs until it succeeds once (exit 0), then never again (the local node's join)."""
    after: str = ""
    """Started when the `once` child of this name has succeeded."""
    secretless: bool = False
    """Gets `localnode.agent_environment`: no credentials file, token or NATS URL (the local node's agent)."""
    final_exits: dict[int, Callable[[], str]] = field(default_factory=dict)
    """Exit statuses after which starting it again may not help: each asks why ("" when a restart may heal).
    The local node's agent refused, and the node removed: it stops for good, instead of a restart loop."""
    rearm: Path | None = None
    """Stopped for good, it starts again once this file is newer than its stop (a fresh join file)."""
    stopped: str = ""
    """Why it stopped for good (one of `final_exits`); empty while supervised as usual."""
    stopped_at: float = 0.0

    def backoff(self, now: float) -> float:
        """Seconds to wait before the next start: exponential, reset after a stable run."""
        if now - self.started >= STABLE_AFTER:
            self.failures = 0
        self.failures += 1
        return float(min(MAX_BACKOFF, 0.1 * 2 ** (self.failures - 1)))


def exited(child: Child, now: float, exits: dict[str, tuple[int | None, float, int]], output: Path) -> None:
    """Record a child's exit (`exits`: last code, when, restarts) and when it starts again: after its backoff,
    or never for one of its `final_exits` (then `stopped` says why, in the log and `run/components.json`)."""
    assert child.proc is not None
    code = child.proc.returncode
    _, _, restarts = exits.get(child.name, (None, 0.0, 0))
    why = child.final_exits[code]() if code in child.final_exits else ""
    if why:
        log.error("component stopped; not restarting", component=child.name, pid=child.proc.pid, code=code,
                  reason=why)
        child.proc, child.restart_at, child.stopped, child.stopped_at = None, None, why, time.time()
        exits[child.name] = (code, time.time(), restarts)
        return
    delay = child.backoff(now)
    log.warning("component exited; restarting", component=child.name, pid=child.proc.pid, code=code,
                restart_in=delay, failures=child.failures, **({"output": str(output)} if child.once else {}))
    child.proc, child.restart_at = None, now + delay
    exits[child.name] = (code, time.time(), restarts + 1)


def rearmed(child: Child) -> bool:
    """A child stopped for good whose `rearm` file was written since: it may start again (cleared)."""
    try:
        renewed = child.rearm is not None and os.stat(child.rearm).st_mtime > child.stopped_at
    except OSError:
        renewed = False
    if renewed:
        log.info("component may start again", component=child.name, because=f"{child.rearm} was written")
        child.stopped, child.failures = "", 0
    return renewed


def controller_children(data: str, groups: tuple[tuple[str, ...], ...], hosts: int = 1,
                        node_timeout: float = 10.0) -> list[Child]:
    """The main controller (all kinds but the separate ones) and one controller per separate group; each
    `hosts` times: hosts of one scope share its partitions (the first keeps the default host id, the
    others are `<hostname>-<i>`), so a kill -9 of one is taken over by the others."""
    separate = sorted({k for g in groups for k in g})
    run = Path(data) / "run"
    main = ["controller", "--data", data, *(["--without-kinds", ",".join(separate)] if separate else []),
            "--node-timeout", f"{node_timeout:g}"]
    scopes = [("controller", main, "controller-main")]
    scopes += [(f"controller-{'-'.join(g)}", ["controller", "--data", data, "--kinds", ",".join(g)],
                f"controller-{'-'.join(g)}") for g in groups]
    children = []
    for name, args, inflight in scopes:
        for i in range(1, max(1, hosts) + 1):
            extra = [] if i == 1 else ["--host-id", f"{socket.gethostname() or 'main'}-{i}"]
            child = Child(name if i == 1 else f"{name}-{i}", [*args, *extra])
            child.inflight = run / (f"{inflight}.inflight" if i == 1 else f"{inflight}-{i}.inflight")
            child.args += ["--inflight", str(child.inflight)]
            children.append(child)
    return children
