"""The regression gate's pure parts: the run order, the figures read from reports, medians and verdicts."""
from __future__ import annotations

from typing import Any

from bench.gate import FIGURES, figures, rows, schedule


def burst(seconds: float, ratio: float, p99: float = 1000.0) -> dict[str, Any]:
    return {"scenario": "burst", "nats": {"all_ready_seconds": seconds, "ceiling_ratio": ratio,
                                          "declared_to_ready": {"p50_ms": p99 / 2, "p99_ms": p99}}}


def steady(apply_p99: float, ready_p50: float, ready_p99: float) -> dict[str, Any]:
    return {"scenario": "steady", "apply_202": {"p50_ms": 1.0, "p99_ms": apply_p99},
            "declared_to_ready": {"p50_ms": ready_p50, "p99_ms": ready_p99}}


def by_key(base: list[dict[str, Any]], head: list[dict[str, Any]], threshold: float = 0.1) -> dict[str, Any]:
    return {f["figure"]: f for f in figures(rows(base, head), threshold)}


def test_schedule_alternates_which_side_goes_first_and_pairs_each_scenario() -> None:
    assert schedule(2, ["burst", "steady"]) == [
        ("base", "burst"), ("head", "burst"), ("base", "steady"), ("head", "steady"),
        ("head", "burst"), ("base", "burst"), ("head", "steady"), ("base", "steady")]
    assert schedule(0, ["burst"]) == []


def test_medians_ratio_and_a_slower_burst_is_a_regression() -> None:
    got = by_key([burst(4.0, 0.40), burst(5.0, 0.42), burst(9.0, 0.41)],
                 [burst(5.0, 0.30), burst(5.5, 0.31), burst(6.0, 0.33)])
    seconds = got["burst_all_ready_s"]
    assert seconds["base_median"] == 5.0 and seconds["head_median"] == 5.5 and seconds["ratio"] == 1.1
    assert seconds["regressed"] is False  # exactly 10 % worse is not past a 10 % threshold
    ratio = got["burst_ceiling_ratio"]  # higher is better: 0.41 -> 0.31 is 1.32x worse, in every run
    assert ratio["worse_by"] == round(0.41 / 0.31, 3) and ratio["regressed"] is True


def test_overlapping_runs_are_noise_whatever_the_medians() -> None:
    """A saturated minute on a shared box moves one run by seconds: the medians differ, the runs overlap."""
    def runs(*seconds: float) -> list[dict[str, Any]]:
        return [burst(s, 0.5) for s in seconds]

    got = by_key(runs(4.0, 5.0, 9.0), runs(4.5, 8.0, 8.5))
    seconds = got["burst_all_ready_s"]
    assert seconds["worse_by"] == 1.6 and seconds["regressed"] is False
    got = by_key(runs(4.0, 5.0, 5.2), runs(5.3, 8.0, 8.5))
    assert got["burst_all_ready_s"]["regressed"] is True


def test_faster_head_is_never_a_regression() -> None:
    got = by_key([burst(8.0, 0.3, 4000)], [burst(4.0, 0.6, 2000)])
    assert all(not f["regressed"] for f in got.values())
    assert got["burst_all_ready_s"]["worse_by"] == 0.5 and got["burst_ceiling_ratio"]["worse_by"] == 0.5


def test_a_big_ratio_within_the_noise_floor_is_not_a_regression() -> None:
    got = by_key([steady(2.0, 10.0, 20.0)], [steady(4.0, 14.0, 39.0)])
    assert got["steady_apply_p99_ms"]["worse_by"] == 2.0 and not got["steady_apply_p99_ms"]["regressed"]
    assert not got["steady_ready_p99_ms"]["regressed"]  # +19 ms is under the 20 ms floor
    got = by_key([steady(2.0, 10.0, 20.0)], [steady(4.0, 14.0, 41.0)])
    assert got["steady_ready_p99_ms"]["regressed"]


def test_only_the_scenarios_that_ran_have_rows_and_missing_sides_give_no_verdict() -> None:
    got = by_key([steady(1, 2, 3)], [])
    assert set(got) == {f.key for f in FIGURES if f.scenario == "steady"}
    assert all(f["ratio"] is None and not f["regressed"] for f in got.values())
