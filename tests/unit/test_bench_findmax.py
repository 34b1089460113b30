"""`steady --find-max`'s search: doubling until a rate fails, then bisecting, within a probe budget."""
from __future__ import annotations

from bench.findmax import RateSearch


def drive(search: RateSearch, capacity: float) -> list[float]:
    """Run the search against a plane that holds every rate up to `capacity`."""
    rates = []
    while (rate := search.next_rate()) is not None:
        rates.append(rate)
        search.record(rate, rate <= capacity)
    return rates


def test_doubles_then_bisects_to_within_a_step() -> None:
    search = RateSearch(start=100, step=25, max_probes=20)
    rates = drive(search, capacity=530)
    assert rates[:4] == [100, 200, 400, 800]
    assert search.held is not None and search.failed is not None
    assert search.held <= 530 < search.failed and search.failed - search.held <= 25
    assert len(rates) == len(set(rates))  # never the same rate twice


def test_stops_at_the_ceiling_when_everything_holds() -> None:
    search = RateSearch(start=100, ceiling=500, max_probes=20)
    assert drive(search, capacity=10_000) == [100, 200, 400, 500]
    assert search.held == 500 and search.failed is None


def test_goes_down_when_the_start_rate_fails_and_gives_up_below_the_floor() -> None:
    search = RateSearch(start=400, step=25, max_probes=20)
    rates = drive(search, capacity=120)
    assert rates[:3] == [400, 200, 100]
    assert search.held is not None and 95 <= search.held <= 120
    nothing = RateSearch(start=4, floor=1, max_probes=20)
    assert drive(nothing, capacity=0) == [4, 2, 1]
    assert nothing.held is None


def test_the_probe_budget_bounds_the_search() -> None:
    search = RateSearch(start=100, step=1, max_probes=5)
    assert len(drive(search, capacity=777)) == 5
    assert search.probes == [(100, True), (200, True), (400, True), (800, False), (600, True)]
    assert search.held == 600 and search.failed == 800


def test_a_noisy_failure_below_a_held_rate_does_not_undo_it() -> None:
    search = RateSearch(start=100, step=25, max_probes=20)
    search.record(100, True)
    search.record(200, True)
    search.record(150, False)  # noise: 200 held
    assert search.held == 200 and search.failed is None and search.next_rate() == 400
