"""The supervisor's last line of defence: a step stuck past the deadline is rewritten as a timeout."""
from __future__ import annotations

from pathlib import Path

from actors.watchdog import Crash, InFlight
from supervisor.stuck import stuck


def test_a_step_held_past_the_deadline_is_recorded_as_a_timeout(tmp_path: Path) -> None:
    path = tmp_path / "c.inflight"
    flight = InFlight(path)
    flight.write(Crash(token="k.ns.bad", step="decide", seq=4, started=1000.0))
    assert stuck(path, kill_after=15, now=1010.0) is None  # not yet
    held = stuck(path, kill_after=15, now=1020.0)
    assert held is not None and held["reason"] == "timeout" and "20s" in str(held["message"])
    crash = InFlight(path).take()  # what the restarted controller reads
    assert crash is not None and (crash.token, crash.step, crash.seq, crash.reason) == ("k.ns.bad", "decide", 4,
                                                                                         "timeout")


def test_no_step_in_flight_is_never_stuck(tmp_path: Path) -> None:
    path = tmp_path / "c.inflight"
    assert stuck(path, now=1e12) is None  # no file
    flight = InFlight(path)
    flight.write(Crash(token="k.ns.x", step="evolve", seq=1, started=1.0))
    flight.clear()
    assert stuck(path, now=1e12) is None


def test_a_step_already_judged_a_timeout_does_not_kill_the_restarted_controller(tmp_path: Path) -> None:
    """The rewritten record waits for the restarted controller to take it up: no kill loop meanwhile."""
    path = tmp_path / "c.inflight"
    InFlight(path).write(Crash(token="k.ns.bad", step="decide", seq=4, started=1000.0))
    assert stuck(path, kill_after=15, now=1020.0) is not None
    assert stuck(path, kill_after=15, now=1030.0) is None
