"""`python -m bench <scenario>` (also `bosun bench <scenario>`): human table by default, `--json` for machines.

Every scenario prints the machine it ran on. Scenario modules are imported by their command only.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from bench.loop import run


def _report(name: str, result: dict[str, Any], as_json: bool) -> None:
    from bench.machine import info
    from bench.report import render

    doc = {"scenario": name, "machine": info(), **result}
    click.echo(json.dumps(doc, indent=2) if as_json else render(name, doc))


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated integers") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("expected at least one positive count")
    return counts


json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")


@click.group()
def main() -> None:
    """Bosun benchmarks: numbers and ratios from one run (see bench/RESULTS.md)."""
    from core.logs import configure

    configure("bench", "WARNING")  # logs to stderr; stdout carries only the report


@main.command()
@click.option("-n", "--count", default=1000, show_default=True)
@click.option("--via", type=click.Choice(["nats", "http", "both"]), default="both", show_default=True)
@click.option("--timeout", default=300.0, show_default=True)
@click.option("--nodes", type=click.IntRange(0, 99_999), default=0, show_default=True,
              help="Over a pool of this many simulated nodes (`bosun up --sim-nodes`) instead of a sim pool.")
@json_option
def burst(count: int, via: str, timeout: float, nodes: int, as_json: bool) -> None:
    """N deployments as fast as possible, then the raw JetStream ceiling for the same work."""
    from bench.burst import node_gpus, run_burst
    from bench.ceiling import run_ceiling, stream_counts
    from bench.plane import Plane

    results: dict[str, Any] = {}
    args = ("--sim-nodes", str(nodes), "--sim-node-gpus", str(node_gpus(count, nodes))) if nodes else ()
    for channel in (["nats", "http"] if via == "both" else [via]):
        t0 = time.monotonic()
        with Plane(*args) as plane:
            up = time.monotonic() - t0
            result = run(run_burst(plane, count, channel, timeout, nodes))
            appended, consumed = run(stream_counts(plane.internal_nats))
            ceiling = run(run_ceiling(plane.internal_nats, appended, consumed))
            result["appended"], result["consumed"] = appended, consumed
            result["ceiling"] = ceiling
            result["ceiling_ratio"] = round(ceiling["seconds"] / result["all_ready_seconds"], 3)
            result["phases"] = {"plane_up_seconds": round(up, 3), **result["phases"],
                                "ceiling_publish_seconds": ceiling["publish_seconds"],
                                "ceiling_consume_seconds": ceiling["consume_seconds"]}
            results[channel] = result
    _report("burst", results, as_json)


@main.command()
@click.option("--nodes", type=click.IntRange(2, 99_999), default=1000, show_default=True,
              help="Simulated nodes (`bosun up --sim-nodes`).")
@click.option("--gpus", type=click.IntRange(1, 1024), default=4, show_default=True, help="GPUs of each node.")
@click.option("--deployments", default=200, show_default=True)
@click.option("--replicas", default=10, show_default=True, help="Replicas of each deployment (spread: node).")
@click.option("--lose", type=click.IntRange(1, 99_999), default=1, show_default=True,
              help="Nodes lost at once (those holding the most replicas).")
@click.option("--node-timeout", default=10.0, show_default=True, help="The plane's --node-timeout.")
@click.option("--eviction-timeout", default=30.0, show_default=True, help="The plane's --eviction-timeout.")
@click.option("--timeout", default=120.0, show_default=True, help="Beyond both timeouts, for the recovery.")
@json_option
def nodeloss(nodes: int, gpus: int, deployments: int, replicas: int, lose: int, node_timeout: float,
             eviction_timeout: float, timeout: float, as_json: bool) -> None:
    """Lose simulated nodes holding replicas: until NotReady, and until every affected deployment is Ready
    elsewhere (its lost replicas evicted after --eviction-timeout and replaced)."""
    from bench.nodeloss import has_eviction, plane_args, run_nodeloss
    from bench.plane import Plane

    eviction = eviction_timeout if has_eviction() else None
    with Plane(*plane_args(nodes, gpus, node_timeout, eviction)) as plane:
        result = run(run_nodeloss(plane, nodes=nodes, gpus=gpus, deployments=deployments, replicas=replicas,
                                  lose=lose, node_timeout=node_timeout, eviction=eviction, timeout=timeout))
    _report("nodeloss", result, as_json)
    if "error" in result:
        raise SystemExit(1)


@main.command()
@click.option("-n", "--count", default=10_000, show_default=True)
@click.option("--timeout", default=600.0, show_default=True)
@click.option("--sync-always/--no-sync-always", default=True, show_default=True,
              help="Also run R1 with `--sync always` (the cost of fsync on every write).")
@click.option("--only", multiple=True, type=click.Choice(["r1", "r1_sync_always", "r3_1_host", "r3_2_hosts",
                                                             "node_kill_leader", "node_kill_follower"]),
              help="Run only these variants (repeatable). BOSUN_READ=stream|partitions is passed to the hosts.")
@json_option
def cluster(count: int, timeout: float, sync_always: bool, only: tuple[str, ...], as_json: bool) -> None:
    """Burst on R1, on a 3-node R3 cluster with 1 and 2 controller hosts; failover after a host kill."""
    from bench.cluster import run_cluster
    from bench.machine import info

    doc = {"scenario": "cluster", "machine": info(), **run_cluster(count, timeout, sync_always, set(only))}
    click.echo(json.dumps(doc, indent=2))  # JSON either way (`--json` accepted for symmetry)


@main.command()
@click.option("--resources", default=3000, show_default=True)
@click.option("--timeout", default=120.0, show_default=True, help="Per variant.")
@json_option
def partitions(resources: int, timeout: float, as_json: bool) -> None:
    """Reading only some partitions: a partition-transformed mirror and filtered consumers vs unfiltered."""
    from bench.loop import run
    from bench.machine import info
    from bench.partitions import run_partitions

    doc = {"scenario": "partitions", "machine": info(), **run(run_partitions(resources, timeout))}
    click.echo(json.dumps(doc, indent=2))  # JSON either way (`--json` accepted for symmetry)


@main.command()
@click.option("--rate", default=100.0, show_default=True, help="Applies per second (with --find-max: the first probe).")
@click.option("--seconds", default=60.0, show_default=True, help="Duration (with --find-max: of each probe).")
@click.option("--find-max", is_flag=True,
              help="Search for the highest rate whose declared->Ready p99 stays within --target-p99-ms.")
@click.option("--target-p99-ms", default=250.0, show_default=True)
@click.option("--max-rate", default=3200.0, show_default=True, help="--find-max: the highest rate probed.")
@click.option("--step", default=25.0, show_default=True, help="--find-max: stop once within this many applies/s.")
@click.option("--max-probes", default=8, show_default=True, help="--find-max: probes at most (each a fresh plane).")
@click.option("--grace", default=None, type=float,
              help="Seconds after the last apply to wait for all Ready [120; 10 with --find-max: a fail].")
@json_option
def steady(rate: float, seconds: float, find_max: bool, target_p99_ms: float, max_rate: float, step: float,
           max_probes: int, grace: float | None, as_json: bool) -> None:
    """Applies at a fixed rate; apply and declared->Ready latency (or, --find-max, the saturation rate)."""
    from bench.plane import Plane
    from bench.steady import find_max as search
    from bench.steady import run_steady

    if find_max:
        _report("steady", search(rate, seconds, target_p99_ms, max_rate, step, max_probes,
                                 10.0 if grace is None else grace), as_json)
        return
    with Plane() as plane:
        _report("steady", run(run_steady(plane, rate, seconds, 120.0 if grace is None else grace)), as_json)


@main.command()
@click.option("-n", "--count", default=2000, show_default=True)
@click.option("--timeout", default=300.0, show_default=True)
@click.option("--py-spy", "py_spy", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also sample each Python component with py-spy into this directory (the pool's share).")
@click.option("--nodes", type=click.IntRange(0, 99_999), default=0, show_default=True,
              help="Over a pool of this many simulated nodes (`bosun up --sim-nodes`) instead of a sim pool.")
@json_option
def budget(count: int, timeout: float, py_spy: Path | None, nodes: int, as_json: bool) -> None:
    """CPU µs per converged deployment per component (/proc), appends and deliveries per deployment."""
    from bench.budget import run_budget

    _report("budget", run_budget(count, timeout, py_spy, nodes), as_json)


@main.command("badinput")
@click.option("--rate", default=10.0, show_default=True, help="Good applies per second.")
@click.option("--seconds", default=60.0, show_default=True, help="Per phase (without, then with bad input).")
@click.option("--bad-rate", default=90.0, show_default=True, help="Bad-input corpus requests per second.")
@json_option
def badinput(rate: float, seconds: float, bad_rate: float, as_json: bool) -> None:
    """Good clients' apply p99 without and with the bad-input corpus replayed."""
    from bench.badinput import run_badinput
    from bench.plane import Plane

    with Plane() as plane:
        _report("badinput", run(run_badinput(plane, rate, seconds, bad_rate)), as_json)


@main.command()
@click.option("--resources", default=1000, show_default=True)
@click.option("--rate", default=200.0, show_default=True)
@click.option("--seconds", default=20.0, show_default=True)
@json_option
def query(resources: int, rate: float, seconds: float, as_json: bool) -> None:
    """GET-one and list latency at a fixed rate over a populated read model."""
    from bench.burst import run_burst
    from bench.plane import Plane
    from bench.query import run_query

    with Plane() as plane:
        run(run_burst(plane, resources, "nats", 600))
        _report("query", {"resources": resources, **run(run_query(plane, resources, rate, seconds))},
                as_json)


@main.command()
@click.option("--replicas", default=200, show_default=True)
@click.option("--timeout", default=300.0, show_default=True)
@json_option
def processes(replicas: int, timeout: float, as_json: bool) -> None:
    """N real replica processes to Ready (time, CPU, memory) and the autoscaler's reaction time."""
    from bench.plane import Plane
    from bench.processes import run_processes

    with Plane() as plane:
        _report("processes", run_processes(plane, replicas, timeout), as_json)


@main.command("cold-restart")
@click.option("--resources", default=10_000, show_default=True)
@click.option("--events", default=10, show_default=True, help="Events per resource.")
@json_option
def cold_restart(resources: int, events: int, as_json: bool) -> None:
    """Catch-up time of a cold controller host, without and with snapshots, in events/s."""
    from bench.coldstart import run_coldstart

    _report("cold-restart", run(run_coldstart(resources, events)), as_json)


@main.command()
@click.option("--resources", default="10000,100000", show_default=True, help="Resource counts, comma-separated.")
@click.option("--events", default=3, show_default=True, help="Events per resource.")
@click.option("--trace/--no-trace", default=True, show_default=True,
              help="Also measure live Python bytes with tracemalloc (two more, slower, host processes).")
@json_option
def memory(resources: str, events: int, trace: bool, as_json: bool) -> None:
    """Host RSS per active actor and per passivated resource, each in a fresh process."""
    from bench.memory import run_memory

    _report("memory", run(run_memory(_counts(resources), events, trace)), as_json)


@main.command()
@click.option("--events", default=100_000, show_default=True, help="Length of the one long history.")
@click.option("--resources", default=10_000, show_default=True, help="Resources of the environment.")
@click.option("--no-nats", is_flag=True, help="Skip the environment --at measurement (needs nats-server).")
@json_option
def replay(events: int, resources: int, no_nats: bool, as_json: bool) -> None:
    """Fold speed in events/s: one long history, the whole stream, and `--at` over a real log."""
    from bench.replay import run_replay

    _report("replay", run_replay(events, resources, not no_nats), as_json)


@main.command()
@click.option("--resources", default=10_000, show_default=True)
@click.option("--samples", default=50, show_default=True)
@json_option
def describe(resources: int, samples: int, as_json: bool) -> None:
    """`bosun describe` latency over a large read model (client path and whole CLI process)."""
    from bench.describe import run_describe

    _report("describe", run_describe(resources, samples), as_json)


@main.command()
@click.option("--resources", default=10_000, show_default=True, help="Aggregates (resources).")
@click.option("--events", default=10, show_default=True, help="Events per aggregate.")
@json_option
def peer(resources: int, events: int, as_json: bool) -> None:
    """The `eventsourcing` library (SQLite) rebuilding the same N x M as Bosun's cold catch-up."""
    from bench.peer import run_peer

    _report("peer", run(run_peer(resources, events)), as_json)


@main.command()
@click.option("--resources", default=10_000, show_default=True, help="Converged deployments in the plane.")
@click.option("--samples", default=5, show_default=True)
@json_option
def plan(resources: int, samples: int, as_json: bool) -> None:
    """`POST /v1/plan` latency over a live plane of N deployments (snapshots + tail, not a full fold)."""
    from bench.plan import run_plan

    _report("plan", run_plan(resources, samples), as_json)


@main.command()
@click.option("--seconds", default=600.0, show_default=True, help="How long the steady load runs.")
@click.option("--retain", default="60s", show_default=True, help="`bosun up --retain`.")
@click.option("--rate", default=20.0, show_default=True, help="Spec changes per second (each one also a status).")
@click.option("--every", default=30.0, show_default=True,
              help="Seconds between samples (stream and archive sizes, a cold restart, history reads).")
@click.option("--reads", default=20, show_default=True, help="History reads of the archived range per sample.")
@json_option
def retention(seconds: float, retain: str, rate: float, every: float, reads: int, as_json: bool) -> None:
    """Steady load on a bounded log: stream bytes plateau, cold restarts stay flat, archived history reads
    (p50/p99), the archiver's CPU per message."""
    from bench.retention import run_retention

    _report("retention", run_retention(seconds, retain, rate, every, reads), as_json)


@main.command()
@click.option("--from", "tag", default="v0.1.0", show_default=True, help="The release upgraded from (a git tag).")
@click.option("--deployments", default=4, show_default=True, help="Converged deployments the upgrade must not touch.")
@click.option("--settle", default=3.0, show_default=True, help="Seconds between two component replacements.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=Path.home() / ".cache" / "bosun",
              show_default=True, help="Where the tag's code and venv are kept.")
@click.option("--record-fixture", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also save the old plane's whole log as a bundle (the suite's upgrade fixture).")
@json_option
def upgrade(tag: str, deployments: int, settle: float, cache: Path, record_fixture: Path | None,
            as_json: bool) -> None:
    """A rolling upgrade from TAG to this code under writes: lost writes, restarted replicas, replay --check."""
    import tempfile

    from bench.upgrade import old_release, rolling_upgrade, this_release

    with tempfile.TemporaryDirectory(prefix="bosun-upgrade-") as tmp:
        result = rolling_upgrade(old_release(tag, cache), this_release(), Path(tmp), deployments, settle,
                                 record_fixture)
    _report("upgrade", result, as_json)
    if not result["ok"]:
        raise SystemExit(1)


def _gate() -> None:
    from bench.gate import main as gate_main

    main.add_command(gate_main, "gate")


_gate()  # click only: the gate imports nothing of Bosun until it runs

if __name__ == "__main__":
    main()
