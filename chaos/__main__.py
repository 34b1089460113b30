"""`python -m chaos` / `bosun chaos`: chaos rounds, the If-Match linearizability check, the soak, durability.

Every verb starts its own `bosun up` on a fresh data directory (in a temporary directory unless
`--data`), prints its table and exits 1 when an invariant failed.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from chaos.tree import Tree, up_supports

T = TypeVar("T")


def _up_args(cluster: int | None, sync: str | None) -> tuple[str, ...]:
    """Pass `--cluster` / `--sync` through to `bosun up` when it has them (issue #11), else refuse."""
    args: list[str] = []
    for flag, value in (("--cluster", cluster), ("--sync", sync)):
        if value is None:
            continue
        if not up_supports(flag):
            raise click.UsageError(f"this `bosun up` has no {flag} (it comes with the cluster work, #11)")
        args += [flag, str(value)]
    return tuple(args)


def _in_data(data: Path | None, body: Callable[[Path], Coroutine[Any, Any, T]]) -> T:
    if data is not None:
        return asyncio.run(body(data))
    with tempfile.TemporaryDirectory(prefix="bosun-chaos-") as tmp:
        return asyncio.run(body(Path(tmp) / "data"))


data_option = click.option("--data", type=click.Path(file_okay=False, path_type=Path),
                           help="Data directory for the tree (default: a temporary one).")
cluster_option = click.option("--cluster", type=int, help="Passed to `bosun up --cluster` (needs #11).")
sync_option = click.option("--sync", help="Passed to `bosun up --sync` (needs #11).")


@click.group()
def main() -> None:
    """Prove it under fire: kill -9 rounds, linearizable If-Match, soak, durability."""


@main.command("run")
@click.option("--rounds", default=100, show_default=True)
@click.option("--writers", default=4, show_default=True)
@click.option("--resources", default=4, show_default=True, help="Per writer.")
@click.option("--seed", default=1, show_default=True)
@click.option("--component", "components", multiple=True,
              help="Kill only these (pidfile names under <data>/run; nats-<i> for a cluster's nodes).")
@click.option("--converge-timeout", default=90.0, show_default=True, help="Seconds a round may take to converge.")
@click.option("--cycle", is_flag=True, help="Kill the components in turn instead of at random.")
@click.option("--capacity", default=0, show_default=True,
              help="The pool's GPUs (0: small enough for the load to run it full).")
@click.option("--shrink", type=int, help="The pool's GPUs from the middle round on (default: 2/3 of --capacity).")
@data_option
@cluster_option
@sync_option
def run_cmd(rounds: int, writers: int, resources: int, seed: int, components: tuple[str, ...],
            converge_timeout: float, cycle: bool, capacity: int, shrink: int | None, data: Path | None,
            cluster: int | None, sync: str | None) -> None:
    """Rounds of load + kill -9 of one component; then the ledger, allocation, actuation and rebuild checks."""
    from chaos.rounds import Config, run

    extra = _up_args(cluster, sync)
    cfg = Config(data or Path(), rounds, writers, resources, seed, converge_timeout, up_args=extra,
                 components=components, cycle=cycle, capacity=capacity, shrink=shrink)
    report = _in_data(data, lambda d: run(replace(cfg, data=d), progress=True))
    click.echo(report.render())
    sys.exit(0 if report.ok else 1)


@main.command("linearizable")
@click.option("--writers", default=8, show_default=True)
@click.option("--writes", default=25, show_default=True, help="Per writer.")
@data_option
def linearizable_cmd(writers: int, writes: int, data: Path | None) -> None:
    """Concurrent If-Match read-modify-writes on one resource over HTTP and NATS, checked as a CAS register."""
    from chaos import hot
    from chaos.door import Door

    async def body(d: Path) -> hot.HotReport:
        tree = Tree(d).start()
        try:
            door = await Door(tree.url, tree.nats, tree.token).open()
            try:
                return await hot.run(door, writers, writes)
            finally:
                await door.close()
        finally:
            tree.stop()

    report = _in_data(data, body)
    click.echo(report.render())
    sys.exit(0 if report.ok else 1)


@main.command("soak")
@click.option("--seconds", default=1800.0, show_default=True)
@click.option("--rate", default=10.0, show_default=True, help="Applies per second.")
@click.option("--bad-input", is_flag=True,
              help="Replay the bad-input corpus (corpus/bad_inputs.py) in the second half.")
@data_option
def soak_cmd(seconds: float, rate: float, bad_input: bool, data: Path | None) -> None:
    """Steady applies with periodic deletes; RSS slope, fds, threads, p99 apply and declared->Ready."""
    from chaos import soak
    from chaos.door import Door
    from chaos.load import POOL

    cases: list[object] = []
    if bad_input:
        from corpus import bad_inputs

        cases = [*bad_inputs.HTTP, *bad_inputs.NATS]

    async def body(d: Path) -> soak.SoakReport:
        tree = Tree(d).start()
        try:
            door = await Door(tree.url, tree.nats, tree.token).open()
            try:
                await door.apply(POOL)
                return await soak.run(tree, door, seconds, rate, cases=cases)
            finally:
                await door.close()
        finally:
            tree.stop()

    click.echo(_in_data(data, body).render())


@main.command("durability")
@click.option("--burst", default=10.0, show_default=True, help="Seconds of applies before nats-server dies.")
@data_option
def durability_cmd(burst: float, data: Path | None) -> None:
    """kill -9 of nats-server right after a burst, default sync vs `--sync always` (needs #11)."""
    from chaos import durability
    from chaos.figures import table

    results = _in_data(data, lambda d: durability.run(d, burst))
    if results is None:
        click.echo("skipped: this `bosun up` has no --sync (it comes with the cluster work, #11)")
        return
    click.echo(table(["sync", "acked", "applies/s", "lost", "phantom"],
                     [[r.mode, r.acked, f"{r.throughput:.0f}", len(r.verdict.lost), len(r.verdict.phantom)]
                      for r in results]))
    sys.exit(0 if all(not r.verdict.lost for r in results) else 1)


if __name__ == "__main__":
    main()
