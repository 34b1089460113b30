"""Tiny runs of every benchmark scenario so the suite never lets them rot (no timing is asserted)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.report import render

BOSUN = str(Path(sys.executable).parent / "bosun")
pytestmark = pytest.mark.bench


def bench(*args: str, via_bosun: bool = False) -> dict[str, Any]:
    command = [BOSUN, "bench"] if via_bosun else [sys.executable, "-m", "bench"]
    out = subprocess.run([*command, *args, "--json"], capture_output=True, text=True, timeout=240,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    doc: dict[str, Any] = json.loads(out.stdout)
    assert doc["scenario"] == args[0]
    assert doc["machine"]["cores"] and doc["machine"]["nats_server"]
    human = render(doc["scenario"], doc)  # the human report of the same document renders too
    assert human.startswith(f"== {args[0]}\nmachine: ")
    return doc


@pytest.mark.parametrize("via", ["nats", "http"])
def test_burst_reports_throughput_latency_phases_and_the_ceiling_ratio(via: str) -> None:
    run = bench("burst", "-n", "5", "--via", via)[via]
    assert run["n"] == 5 and run["resources_per_second"] > 0
    assert run["appended"] > 5 and run["ceiling"]["published"] == run["appended"]
    assert run["ceiling"]["consumed"] == run["consumed"] and run["ceiling_ratio"] > 0
    assert set(run["declared_to_ready"]) == {"p50_ms", "p99_ms"}
    assert {"plane_up_seconds", "pool_apply_seconds", "watch_connect_seconds", "declare_seconds",
            "last_declared_to_all_ready_seconds", "all_ready_seconds", "ceiling_publish_seconds",
            "ceiling_consume_seconds"} <= set(run["phases"])
    assert run["watch"]["frames"] >= 5  # readiness was seen on the SSE watch


def test_steady_reports_percentiles() -> None:
    steady = bench("steady", "--rate", "10", "--seconds", "0.5")
    assert steady["applies"] == 5 and "p99_ms" in steady["apply_202"] and "p99_ms" in steady["declared_to_ready"]


def test_steady_find_max_reports_the_saturation_rate_and_each_probe() -> None:
    doc = bench("steady", "--find-max", "--rate", "10", "--seconds", "0.5", "--max-probes", "2")
    probes = doc["probes"]
    assert 1 <= len(probes) <= 2 and probes[0]["rate_per_second"] == 10
    assert all(isinstance(p["held"], bool) and p["load"] >= 0 for p in probes)
    assert doc["target_declared_to_ready_p99_ms"] == 250
    assert doc["max_rate_per_second"] in (None, *(p["rate_per_second"] for p in probes if p["held"]))


def test_gate_runs_both_sides_alternately_and_prints_ratios(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "bench.gate", "--base", "HEAD", "--head", ".", "--rounds", "1",
                          "-n", "5", "--rate", "10", "--seconds", "0.5", "--venv", str(Path(sys.prefix)),
                          "--threshold", "1000", "--keep", str(tmp_path), "--json"],
                         capture_output=True, text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert [(r["side"], r["scenario"]) for r in doc["runs"]] == [
        ("base", "burst"), ("head", "burst"), ("base", "steady"), ("head", "steady"), ("base", "budget"),
        ("head", "budget")]
    assert all(r["ok"] for r in doc["runs"])
    figures = {f["figure"]: f for f in doc["figures"]}
    assert figures["burst_all_ready_s"]["ratio"] > 0 and len(figures["steady_ready_p99_ms"]["head"]) == 1
    assert figures["budget_appends"]["base_median"] > 0 and doc["same_bench"] is True
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept[0] == "01-base-burst.json" and kept[-1] == "06-head-budget.json"
    assert json.loads((tmp_path / kept[-1]).read_text())["cpu"]["controller"]["us_per_resource"] >= 0


def test_budget_reports_cpu_per_component_and_messages_per_resource() -> None:
    doc = bench("budget", "-n", "5")
    assert {"controller", "projector", "gateway", "nats-server", "driver-sim", "bench client"} <= set(doc["cpu"])
    assert all(v["us_per_resource"] >= 0 for v in doc["cpu"].values())
    assert doc["appended_per_resource"] >= 9 and doc["delivered_per_resource"] >= doc["appended_per_resource"]
    assert doc["appended_by_slice_per_resource"]["ev.modeldeployment.*.*.spec"] == 1
    assert doc["history_of_d0"][0] == "spec spec.applied"


def test_query_reports_percentiles() -> None:
    query = bench("query", "--resources", "5", "--rate", "20", "--seconds", "0.5")
    assert "p99_ms" in query["get_one"] and "p99_ms" in query["list_50"]


def test_cold_restart_reports_catch_up_with_and_without_snapshots() -> None:
    doc = bench("cold-restart", "--resources", "20", "--events", "3")
    assert doc["resources"] == 20 and doc["events"] == 60
    assert doc["actors_loaded_cold"] == 20 and doc["events_per_second_cold"] > 0
    assert doc["catch_up_with_snapshots_seconds"] >= 0 and doc["actors_loaded_with_snapshots"] == 0


def test_memory_measures_active_and_passivated_in_fresh_processes() -> None:
    doc = bench("memory", "--resources", "20", "--events", "2")
    assert doc["target_bytes_per_passivated_resource"] == 2048
    (row,) = doc["counts"]
    assert row["resources"] == 20 and row["active_actors"] == 20
    assert row["passive_actors_loaded"] == 0  # the checkpoint covered the whole log: nothing was folded
    for key in ("rss_bytes_per_active_actor", "rss_bytes_per_passivated_resource", "traced_bytes_per_active_actor",
                "traced_bytes_per_passivated_resource", "traced_bytes_per_passivated_in_place"):
        assert isinstance(row[key], int), key
    assert row["runs"]["active_traced"]["passivated_in_place"] == 20


def test_replay_reports_fold_speed() -> None:
    doc = bench("replay", "--events", "600", "--resources", "20")
    assert doc["actor_fold"]["events"] == 600 and doc["actor_fold"]["events_per_s"] > 0
    assert doc["reducer_fold"]["resources"] == 20
    assert doc["environment_at"]["resources"] == 20


def test_describe_reports_client_and_cli_latency() -> None:
    doc = bench("describe", "--resources", "10", "--samples", "2")
    assert doc["describe_client_warm"]["samples"] == 2 and "p99_ms" in doc["describe_client_warm"]
    assert doc["describe_cli_process"]["median_ms"] > 0


def test_peer_rebuilds_the_same_aggregates_and_events_as_bosun() -> None:
    doc = bench("peer", "--resources", "10", "--events", "3")
    assert doc["bosun"]["aggregates"] == doc["peer"]["aggregates"] == 10
    assert doc["bosun"]["events"] == doc["peer"]["events"] == 30
    assert doc["ratio_bosun_over_peer"] > 0 and doc["peer"]["events_per_second"] > 0


def test_bosun_bench_is_the_same_command() -> None:
    doc = bench("cold-restart", "--resources", "5", "--events", "2", via_bosun=True)
    assert doc["resources"] == 5 and doc["events"] == 10
    human = subprocess.run([BOSUN, "bench", "replay", "--events", "60", "--resources", "5", "--no-nats"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert human.returncode == 0, human.stderr[-2000:]
    assert human.stdout.startswith("== replay\nmachine: ") and "actor fold" in human.stdout


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    async def aiter_lines(self) -> Any:
        for line in self.lines:
            yield line


def test_ready_watch_resumes_only_after_complete_ids() -> None:
    from bench.burst import ReadyWatch

    def obj(name: str, phase: str = "Ready", observed: int = 1) -> str:
        return json.dumps({"metadata": {"name": name, "generation": 1},
                           "status": {"phase": phase, "observedGeneration": observed}})

    watch = ReadyWatch(None, 10, {})  # type: ignore[arg-type]
    # The initial state (every frame carries the checkpoint, 7) dropped before ": watching": not resumable.
    asyncio.run(watch._frames(_Lines(["event: ADDED", "id: 7", f"data: {obj('a')}", ""])))  # type: ignore[arg-type]
    assert watch.last_id is None and set(watch.ready) == {"a"}
    asyncio.run(watch._frames(_Lines([  # type: ignore[arg-type]
        "event: ADDED", "id: 7", f"data: {obj('a')}", "", ": watching", "",
        "event: MODIFIED", "id: 9", f"data: {obj('b', observed=0)}", "",  # Ready for an older generation
        "event: MODIFIED", "id: 12", f"data: {obj('c')}", ""])))
    assert watch.connected.is_set() and watch.last_id == "9"  # 12 may not be complete yet
    assert set(watch.ready) == {"a", "c"}


def test_plan_reports_latency_over_a_live_plane() -> None:
    doc = bench("plan", "--resources", "5", "--samples", "2")
    assert doc["resources"] == 5 and doc["plan"]["samples"] == 2 and "p99_ms" in doc["plan"]
    assert doc["predicted"] == "Ready" and doc["actors_restored"] >= 2


def test_processes_reports_start_to_ready_footprint_and_autoscaler_reaction() -> None:
    doc = bench("processes", "--replicas", "2")
    assert doc["replicas"] == 2 and doc["replica_processes"] == 2
    assert doc["apply_to_all_ready_seconds"] > 0 and doc["rss_mib_per_replica"] > 0
    assert set(doc["autoscaler_reaction_seconds"]) == {"sim", "process"}
    assert doc["delete_to_all_exited_seconds"] >= 0


def test_badinput_reports_good_percentiles_with_and_without_the_corpus_and_no_5xx() -> None:
    doc = bench("badinput", "--rate", "10", "--seconds", "1", "--bad-rate", "40")
    assert "p99_ms" in doc["without_bad_input"] and "p99_ms" in doc["with_bad_input"]
    assert doc["without_bad_input"]["errors"] == 0 and doc["with_bad_input"]["errors"] == 0
    noise = doc["bad_input"]
    assert noise["sent"] > 0 and noise["server_errors"] == 0 and noise["unexpected"] == {}
    assert all(400 <= int(status) < 500 for status in noise["statuses"])


def test_partitions_reports_each_reading_design_and_the_partition_hash_of_nats() -> None:
    doc = bench("partitions", "--resources", "40", "--timeout", "30")
    assert doc["python_partition_matches_nats"] is True
    assert doc["messages"] == 40 * 11
    assert doc["unfiltered"]["delivered"] == doc["messages"]
    for name in ("one_partition_filter", "two_partition_filters", "eight_partition_filters",
                 "eight_partitions_and_pools"):
        assert 0 < doc[name]["delivered"] < doc["messages"], (name, doc[name])


def test_retention_reports_the_plateau_cold_restarts_archived_reads_and_the_archivers_cost() -> None:
    doc = bench("retention", "--seconds", "12", "--retain", "2s", "--rate", "5", "--every", "6", "--reads", "2")
    assert doc["applied"] > 10 and len(doc["samples"]) == 2 and len(doc["cold_restarts"]) == 2
    assert all(r["seconds"] > 0 for r in doc["cold_restarts"])
    assert {"stream_bytes", "archive_messages"} <= set(doc["samples"][-1])
    assert set(doc["history_archived"]) == {"p50_ms", "p99_ms"} and "archiver_cpu_us_per_message" in doc
