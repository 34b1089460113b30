"""Child-process plumbing for `bosun up`: die-with-parent, pidfiles, leftover cleanup, termination.

`bosun up` must never leave orphans behind, even when it is killed with SIGKILL and gets no chance
to clean up. Two independent mechanisms cover that: the kernel kills every child when its parent dies
(PR_SET_PDEATHSIG), and a restarted `bosun up` kills whatever a crashed run left behind, found through
the pidfiles under `<data>/run/` and confirmed by the process's command line (pids get reused).
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded in the parent: no dlopen between fork and exec


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A `preexec_fn` that makes the kernel send `sig` to the child when its parent dies.

    The death signal is tied to the thread that forked, so children must be spawned from the main
    thread. If the parent died between fork and prctl the signal would never come: the child checks
    its parent is still the one that forked it and exits otherwise.

    The child also gets a process group of its own, so a Ctrl-C or a signal to the supervisor's group
    reaches the supervisor alone, which then stops the children in order (components before the
    nats-server they flush through). Should the supervisor itself be killed, the death signal still
    takes every child along.
    """
    parent = os.getpid()

    def preexec() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
        os.setpgid(0, 0)

    return preexec


def alive(pid: int) -> bool:
    """True when `pid` runs and is not a zombie (orphans may never be reaped in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    """The process's command line with NULs as spaces, or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def argv(pid: int) -> list[str]:
    """The process's argument vector, or [] when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def write_pidfile(run_dir: Path, name: str, pid: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{name}.pid.tmp"
    tmp.write_text(f"{pid}\n")
    tmp.replace(run_dir / f"{name}.pid")


def read_pidfile(run_dir: Path, name: str) -> int | None:
    try:
        return int((run_dir / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def remove_pidfile(run_dir: Path, name: str) -> None:
    (run_dir / f"{name}.pid").unlink(missing_ok=True)


def owner(run_dir: Path, name: str, marker: str) -> int | None:
    """The live process recorded in `<name>.pid` with `marker` as one of its arguments, if any.

    An exact argument, not a substring: `/tmp/a` must not match a process serving `/tmp/ab`.
    """
    pid = read_pidfile(run_dir, name)
    if pid is None or pid == os.getpid() or not alive(pid) or marker not in argv(pid):
        return None
    return pid


def kill_leftovers(run_dir: Path, marker: str, skip: Iterable[str] = ()) -> list[int]:
    """Kill processes recorded under `run_dir` that have `marker` as an argument; returns their pids.

    Pidfiles named in `skip` are left alone (nats-server has its own, careful stop).
    """
    victims: list[int] = []
    for pidfile in sorted(run_dir.glob("*.pid")):
        name = pidfile.stem
        if name in skip:
            continue
        pid = owner(run_dir, name, marker)
        if pid is not None:
            victims.append(pid)
        pidfile.unlink(missing_ok=True)
    kill_pids(victims)
    return victims


def kill_pids(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL whatever is still there."""
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    _signal_all([p for p in pids if alive(p)], signal.SIGKILL)


def terminate(procs: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """Stop our own children: SIGTERM, wait (reaping) up to `grace` seconds, then SIGKILL."""
    running = [p for p in procs if p.poll() is None]
    for p in running:
        _send(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in running:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        _send(pid, sig)


def _send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
