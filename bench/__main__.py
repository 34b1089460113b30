"""`python -m bench <scenario>`: human table by default, `--json` for machines."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from bench.burst import run_burst
from bench.coldstart import run_coldstart
from bench.ceiling import run_ceiling, stream_counts
from bench.machine import info
from bench.plane import Plane
from bench.query import run_query
from bench.steady import run_steady
from core.logs import configure


def _report(name: str, result: dict[str, Any], as_json: bool) -> None:
    doc = {"scenario": name, "machine": info(), **result}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"== {name}")
    for key, value in doc.items():
        if key != "scenario":
            click.echo(f"  {key:24} {value}")


@click.group()
def main() -> None:
    """Bosun benchmarks: numbers and ratios from one run."""
    configure("bench", "WARNING")  # logs to stderr; stdout carries only the report


@main.command()
@click.option("-n", "--count", default=1000, show_default=True)
@click.option("--via", type=click.Choice(["nats", "http", "both"]), default="both", show_default=True)
@click.option("--timeout", default=300.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def burst(count: int, via: str, timeout: float, as_json: bool) -> None:
    """N deployments as fast as possible, then the raw JetStream ceiling for the same work."""
    results: dict[str, Any] = {}
    for channel in (["nats", "http"] if via == "both" else [via]):
        with Plane() as plane:
            result = asyncio.run(run_burst(plane, count, channel, timeout))
            appended, consumed = asyncio.run(stream_counts(plane.internal_nats))
            ceiling = asyncio.run(run_ceiling(plane.internal_nats, appended, consumed))
            result["appended"], result["consumed"] = appended, consumed
            result["ceiling"] = ceiling
            result["ceiling_ratio"] = round(ceiling["seconds"] / result["all_ready_seconds"], 3)
            results[channel] = result
    _report("burst", results, as_json)


@main.command()
@click.option("--rate", default=100.0, show_default=True)
@click.option("--seconds", default=60.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def steady(rate: float, seconds: float, as_json: bool) -> None:
    """Applies at a fixed rate; apply and declared->Ready latency."""
    with Plane() as plane:
        _report("steady", asyncio.run(run_steady(plane, rate, seconds)), as_json)


@main.command()
@click.option("--resources", default=1000, show_default=True)
@click.option("--rate", default=200.0, show_default=True)
@click.option("--seconds", default=20.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def query(resources: int, rate: float, seconds: float, as_json: bool) -> None:
    """GET-one and list latency at a fixed rate over a populated read model."""
    with Plane() as plane:
        asyncio.run(run_burst(plane, resources, "nats", 600))
        _report("query", {"resources": resources, **asyncio.run(run_query(plane, resources, rate, seconds))},
                as_json)


@main.command("cold-restart")
@click.option("--resources", default=10_000, show_default=True)
@click.option("--events", default=10, show_default=True, help="Events per resource.")
@click.option("--json", "as_json", is_flag=True)
def cold_restart(resources: int, events: int, as_json: bool) -> None:
    """Catch-up time of a cold controller, with and without snapshots, and RSS per actor."""
    _report("cold-restart", asyncio.run(run_coldstart(resources, events)), as_json)


if __name__ == "__main__":
    main()
