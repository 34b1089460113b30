"""The watchdog: a kind's `decide`/`evolve` runs under a time and memory budget the runtime enforces.

A pure function cannot be trusted to return: it may block, spin, or balloon. They all run on the
host's event loop, so a step that never yields cannot be stopped by asyncio. A daemon thread watches
the step in progress instead; when it overruns, the thread raises `Overrun` inside it
(`PyThreadState_SetAsyncExc`: delivered at the next bytecode boundary, so a Python loop, a
`time.sleep` loop or an allocation loop is interrupted). A step that still does not come back (one
blocking C call, or code that swallows BaseException) gets the process killed after `hard` seconds,
with the resource recorded in the in-flight file first, so the restarted host quarantines it instead of
running it again.

The in-flight file (`InFlight`) names the step running right now in a few bytes of a shared mapping:
no syscall per step, and it survives the process dying (`os._exit`, kill -9, OOM): a host that starts
and finds it non-empty knows which resource's step crashed its predecessor.
"""
from __future__ import annotations

import ctypes
import gc
import mmap
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from actors.failures import MemoryOverrun, Overrun
from core import steps
from core.settings import DEFAULTS
from core.steps import Crash

__all__ = ["Crash", "InFlight", "MemoryOverrun", "Overrun", "Watchdog"]
log = structlog.get_logger("bosun.controller")
T = TypeVar("T")

DEFAULT_BUDGET = DEFAULTS.step_budget
"""Seconds a decide or evolve may run (a pure function takes microseconds); BOSUN_STEP_BUDGET, passed in by
the controller's entry (`actors.serving.serve`)."""
DEFAULT_MEMORY = DEFAULTS.step_memory
"""Bytes of resident memory one step may add (BOSUN_STEP_MEMORY_MB)."""
_SIZE = 1024
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)


class InFlight:
    """A small shared mapping naming the step in progress (empty between steps)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                os.ftruncate(fd, _SIZE)
                self._map = mmap.mmap(fd, _SIZE)
            finally:
                os.close(fd)

    def take(self) -> Crash | None:
        """What the previous process left (then cleared): the step it died in, if any."""
        if self._map is None:
            return None
        raw = bytes(self._map[:_SIZE])
        self.clear()
        return steps.decode(raw)

    def write(self, crash: Crash) -> None:
        if self._map is not None:
            data = steps.encode(crash)
            self._map[:len(data)] = data

    def clear(self) -> None:
        if self._map is not None:
            self._map[0] = 0


class Watchdog:
    """Runs steps under the budget; one step at a time (the host's loop thread runs them all)."""

    def __init__(self, *, budget: float = DEFAULT_BUDGET, hard: float | None = None,
                 memory: int = DEFAULT_MEMORY, inflight: InFlight | None = None, poll: float = 0.02,
                 exit_code: int = 70) -> None:
        self.budget = budget
        self.hard = hard if hard is not None else budget + 5.0
        self.memory = memory
        self.inflight = inflight or InFlight(None)
        self.poll = poll
        self.exit_code = exit_code
        self._lock = threading.Lock()
        self._gen = 0
        self._active: tuple[int, str, str, float, int, int] | None = None
        """(generation, token, step, started, thread id, seq) of the step in progress."""
        self._fired = 0
        self._thread: threading.Thread | None = None
        self._gc_started = 0.0
        self._gc_total = 0.0
        """Seconds spent in garbage collection: not the step's fault (a full collection of a big heap
        can take longer than the budget), so not counted against it."""

    def call(self, token: str, step: str, seq: int, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` under the budget; raises Overrun when the watchdog stopped it."""
        if self._thread is None:
            self._start()
        with self._lock:
            self._gen += 1
            self._active = (self._gen, token, step, time.monotonic() - self._gc_total, threading.get_ident(), seq)
        if self.inflight._map is not None:
            self.inflight.write(Crash(token=token, step=step, seq=seq, started=time.time()))
        try:
            result = fn(*args)
        except BaseException:
            self._finish()
            raise
        self._finish()
        return result

    def _finish(self) -> None:
        """End the step; raise its Overrun if the watchdog fired. An interruption delivered here, after
        the step returned, is caught and the bookkeeping done again (it is delivered at most once)."""
        while True:
            try:
                fired = self._leave()
                break
            except Overrun:
                continue
        if fired:
            raise self._pending

    def _leave(self) -> bool:
        with self._lock:
            active, self._active = self._active, None
            fired, self._fired = self._fired, 0
            if fired and active is not None and fired == active[0]:
                _set_async_exc(active[4], None)  # a NULL: drop it if still pending
        self.inflight.clear()
        return bool(fired)

    def _start(self) -> None:
        self._pending: Overrun = Overrun()
        self._thread = threading.Thread(target=self._watch, name="bosun-watchdog", daemon=True)
        self._thread.start()
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        elif self._gc_started:
            self._gc_total += time.monotonic() - self._gc_started
            self._gc_started = 0.0

    def _elapsed(self, started: float) -> float:
        """Seconds since `started` (taken as monotonic - GC total at the step's start), GC excluded."""
        in_gc = time.monotonic() - self._gc_started if self._gc_started else 0.0
        return time.monotonic() - self._gc_total - in_gc - started

    def _watch(self) -> None:
        baseline: tuple[int, int] = (0, 0)
        while True:
            time.sleep(self.poll)
            with self._lock:
                active = self._active
                if active is None:
                    continue
                gen, token, step, started, tid, seq = active
                if baseline[0] != gen:
                    baseline = (gen, _rss())
                elapsed = self._elapsed(started)
                if self._fired == gen:
                    if elapsed >= self.hard:
                        self._kill(token, step, seq, self._pending)
                    continue
                grown = _rss() - baseline[1]
                if elapsed >= self.budget or grown >= self.memory:
                    over = (MemoryOverrun(f"{step} grew resident memory by {grown // 2**20} MiB "
                                          f"(budget {self.memory // 2**20} MiB)") if grown >= self.memory
                            else Overrun(f"{step} ran past its {self.budget:g}s budget"))
                    self._pending = over
                    self._fired = gen
                    _set_async_exc(tid, id(type(over)))
                    log.error("step overran its budget; interrupting it", token=token, step=step,
                              reason=over.reason, elapsed=round(elapsed, 3))

    def _kill(self, token: str, step: str, seq: int, over: Overrun) -> None:
        """The step ignored the interruption: record it for the next process, then end this one."""
        self.inflight.write(Crash(token=token, step=step, seq=seq, reason=over.reason,
                                  message=f"{over} and did not stop; controller process restarted"))
        if self.inflight._map is not None:
            self.inflight._map.flush()
        log.critical("step did not stop after interruption; exiting so the supervisor restarts us",
                     token=token, step=step)
        os._exit(self.exit_code)


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return 0
