"""The watchdog stops steps that never return, spin, or balloon, without touching steps that behave."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest

from actors.watchdog import Crash, InFlight, MemoryOverrun, Overrun, Watchdog


def _sleeper() -> None:
    while True:
        time.sleep(0.05)


def _spin() -> None:
    while True:
        pass


def _swallow() -> None:
    while True:
        try:
            time.sleep(0.05)
        except Exception:  # noqa: BLE001 - a kind's blanket handler must not swallow the interruption
            pass


def _balloon() -> None:
    hoard = []
    while True:
        hoard.append(b"x" * (8 * 2**20))


@pytest.mark.parametrize("step", [_sleeper, _spin, _swallow])
def test_a_step_past_its_budget_is_interrupted(step: object) -> None:
    dog = Watchdog(budget=0.2, hard=30)
    with pytest.raises(Overrun) as over:
        dog.call("k.ns.bad", "decide", 7, step)
    assert over.value.reason == "timeout" and "0.2s budget" in str(over.value)
    assert dog.call("k.ns.good", "decide", 8, lambda x: x + 1, 41) == 42  # the next step runs normally


def test_a_step_past_its_memory_budget_is_interrupted() -> None:
    dog = Watchdog(budget=30, hard=60, memory=64 * 2**20, poll=0.005)
    with pytest.raises(MemoryOverrun) as over:
        dog.call("k.ns.bad", "decide", 1, _balloon)
    assert over.value.reason == "memory" and "MiB" in str(over.value)


def test_exceptions_and_results_pass_through() -> None:
    dog = Watchdog(budget=5)
    with pytest.raises(ValueError):
        dog.call("k.ns.x", "evolve", 1, int, "not a number")
    for i in range(1000):
        assert dog.call("k.ns.x", "decide", i, abs, -i) == i


def test_the_inflight_file_names_the_step_and_survives_the_process(tmp_path: Path) -> None:
    path = tmp_path / "run" / "c.inflight"
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from actors.watchdog import InFlight, Watchdog
        dog = Watchdog(inflight=InFlight(Path({str(path)!r})))
        dog.call("k.ns.ok", "decide", 1, lambda: None)
        dog.call("k.ns.bad", "decide", 5, lambda: os._exit(3))
    """)
    done = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert done.returncode == 3
    flight = InFlight(path)
    crash = flight.take()
    assert crash is not None and crash.started > 0
    assert msgspec.structs.replace(crash, started=0.0) == Crash(token="k.ns.bad", step="decide", seq=5)
    assert flight.take() is None  # taken once


def test_a_step_that_ignores_the_interruption_gets_its_process_ended(tmp_path: Path) -> None:
    path = tmp_path / "c.inflight"
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from actors.watchdog import InFlight, Watchdog
        dog = Watchdog(budget=0.2, hard=0.6, inflight=InFlight(Path({str(path)!r})))
        def stubborn():
            while True:
                try:
                    time.sleep(0.05)
                except BaseException:
                    pass
        dog.call("k.ns.bad", "evolve", 9, stubborn)
    """)
    done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True)
    assert done.returncode == 70
    crash = InFlight(path).take()
    assert crash is not None and (crash.token, crash.step, crash.seq, crash.reason) == ("k.ns.bad", "evolve", 9,
                                                                                         "timeout")
    assert "did not stop" in crash.message
