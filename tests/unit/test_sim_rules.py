"""Pure parts of the sim driver: seeded start-up latency and capacity arithmetic."""
from __future__ import annotations

import pytest

from dataplane.sim.rules import PoolState, ready_delay, refusal, unit


def test_ready_delay_is_deterministic_per_seed_and_replica() -> None:
    a = ready_delay(1.0, 7, "modeldeployment.a.chat", "chat-1")
    assert a == ready_delay(1.0, 7, "modeldeployment.a.chat", "chat-1")
    others = {ready_delay(1.0, s, "modeldeployment.a.chat", r) for s in (7, 8) for r in ("chat-1", "chat-2")}
    assert len(others) == 4


def test_ready_delay_stays_within_jitter_bounds() -> None:
    delays = [ready_delay(0.2, 0, "t", f"r-{i}") for i in range(500)]
    assert all(0.1 <= d < 0.3 for d in delays)
    assert min(delays) < 0.12 and max(delays) > 0.28  # the whole range is used


@pytest.mark.parametrize("latency", [0.0, -1.0])
def test_no_latency_means_ready_at_once(latency: float) -> None:
    assert ready_delay(latency, 0, "t", "r") == 0.0


def test_unit_interval() -> None:
    assert all(0.0 <= unit(s, "k") < 1.0 for s in range(100))


@pytest.mark.parametrize(("pool", "gpus", "expected"), [
    (PoolState(key="i/p", capacity=4, used=0), 4, None),
    (PoolState(key="i/p", capacity=4, used=3), 1, None),
    (PoolState(key="i/p", capacity=4, used=3), 2, "insufficient capacity in pool i/p (needs 2 GPU, 1 of 4 free)"),
    (PoolState(key="i/p", capacity=0, used=0), 1, "insufficient capacity in pool i/p (needs 1 GPU, 0 of 0 free)"),
    (PoolState(key="i/p", capacity=2, used=5), 0, "insufficient capacity in pool i/p (needs 0 GPU, 0 of 2 free)"),
    (PoolState(key="i/p", capacity=8, used=0, retired=True), 1, "pool i/p is retired"),
    (None, 1, "unknown pool i/p"),
])
def test_refusal(pool: PoolState | None, gpus: int, expected: str | None) -> None:
    assert refusal("i/p", pool, gpus) == expected
