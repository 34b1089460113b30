"""Tiny runs of each benchmark scenario so the suite never lets them rot (no timing is asserted)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def bench(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "bench", *args, "--json"], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["machine"]["cores"]
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize("via", ["nats", "http"])
def test_burst_reports_throughput_latency_and_the_ceiling_ratio(via: str) -> None:
    doc = bench("burst", "-n", "5", "--via", via)
    run = doc[via]
    assert run["n"] == 5 and run["resources_per_second"] > 0  # type: ignore[index]
    assert run["appended"] > 5 and run["ceiling"]["published"] == run["appended"]  # type: ignore[index]
    assert run["ceiling_ratio"] > 0  # type: ignore[index]


def test_cold_restart_reports_catch_up_and_memory() -> None:
    doc = bench("cold-restart", "--resources", "20", "--events", "3")
    assert doc["resources"] == 20 and doc["catch_up_with_snapshots_seconds"] >= 0  # type: ignore[operator]
    assert doc["rss_bytes_per_active_actor"] is not None


def test_steady_and_query_report_percentiles() -> None:
    steady = bench("steady", "--rate", "10", "--seconds", "0.5")
    assert steady["applies"] == 5 and "p99_ms" in steady["apply_202"]  # type: ignore[operator]
    query = bench("query", "--resources", "5", "--rate", "20", "--seconds", "0.5")
    assert "p99_ms" in query["get_one"]  # type: ignore[operator]
