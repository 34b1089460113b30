"""Chaos rounds: load runs, one random component is kill -9'd at a random instant, the tree recovers.

Each round: writers run, a random component dies mid-load, the supervisor restarts it, load goes on
briefly, then stops so the round can measure "kill -> everything converged". At the end the ledger is
checked against the final state, the data plane's own ledger and a rebuild of the projections.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chaos import nodes, verify
from chaos.asked import Actuation, Allocation
from chaos.door import Door
from chaos.figures import table
from chaos.ledger import Op, Verdict, check
from chaos.load import Load, full_capacity, pool
from chaos.phases import Phases
from chaos.phases import render as render_phases
from chaos.tree import Tree


@dataclass
class Config:
    data: Path
    rounds: int = 100
    writers: int = 4
    resources: int = 4
    seed: int = 1
    converge_timeout: float = 90.0
    up_args: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    """Only these (pidfile names); empty: every component found under <data>/run."""
    cycle: bool = False
    """Kill the components in turn (sorted by name) instead of at random: rounds >= components covers each
    one, whatever the seed."""
    capacity: int = 0
    """The pool's GPUs; 0: sized so the load runs it full (`load.full_capacity`)."""
    shrink: int | None = None
    """The pool's GPUs from the middle round on (a shrink under load); None: two thirds of `capacity`."""

    def pool_sizes(self) -> tuple[int, int]:
        first = self.capacity or full_capacity(self.writers, self.resources)
        return first, self.shrink if self.shrink is not None else max(1, first * 2 // 3)


@dataclass
class Report:
    rounds: int = 0
    killed: Counter[str] = field(default_factory=Counter)
    verdict: Verdict = field(default_factory=Verdict)
    duplicates: list[str] = field(default_factory=list)
    overallocated: list[str] = field(default_factory=list)
    allocation: Allocation = field(default_factory=Allocation)
    """Grants and starts the control plane ASKED, against each pool's capacity (`chaos.asked`)."""
    actuation: Actuation = field(default_factory=Actuation)
    """Start commands asked, delivered and actuated per replica (`chaos.asked`)."""
    unconverged: int = 0
    rebuild_diff: list[str] = field(default_factory=list)
    convergence: list[float] = field(default_factory=list)
    phases: list[Phases] = field(default_factory=list)
    ledger: list[Op] = field(default_factory=list)
    final: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.verdict.ok and not self.duplicates and not self.overallocated and not self.unconverged
                and not self.rebuild_diff and self.allocation.ok and self.actuation.ok)

    def render(self) -> str:
        v = self.verdict
        killed = ", ".join(f"{k}×{n}" for k, n in sorted(self.killed.items()))
        rows: list[list[object]] = [
                ["rounds", self.rounds], ["components killed", killed or "-"], ["requests", v.requests],
                ["acked", v.acked], ["unknown outcome", v.unknown], ["lost (must be 0)", len(v.lost)],
                ["phantom (must be 0)", len(v.phantom)], ["duplicates (must be 0)", len(self.duplicates)],
                ["over-allocated pools (must be 0)", len(self.overallocated)],
                ["grants or starts over capacity, as asked (must be 0)", len(self.allocation.violations)],
                ["replicas asked / delivered / started twice (must be 0)",
                 f"{len(self.actuation.asked_twice)} / {len(self.actuation.delivered_twice)} / "
                 f"{len(self.actuation.started_twice)}"],
                ["start commands / deliveries / redeliveries",
                 f"{self.actuation.commands} / {self.actuation.deliveries} / {self.actuation.redeliveries}"],
                ["pool peak allocation / capacity then",
                 ", ".join(f"{p} {a}/{c}" for p, (a, c) in sorted(self.allocation.peak.items())) or "-"],
                ["rounds not converged (must be 0)", self.unconverged],
                ["projection ≠ rebuild (must be 0)", len(self.rebuild_diff)],
                ["max convergence after a kill", f"{max(self.convergence, default=0.0):.2f} s"]]
        diff = "".join(f"\nprojection ≠ rebuild: {d}" for d in self.rebuild_diff)
        diff += "".join(f"\n{what}: {', '.join(names)}" for what, names in
                        (("lost", [self._explain(n) for n in v.lost]),
                         ("phantom", [self._explain(n) for n in v.phantom]),
                         ("duplicates", self.duplicates), ("over-allocated", self.overallocated),
                         ("over capacity as asked", self.allocation.violations[:20]),
                         ("asked twice", self.actuation.asked_twice),
                         ("delivered twice", self.actuation.delivered_twice),
                         ("started twice", self.actuation.started_twice)) if names)
        return table(["chaos", "value"], rows) + "\n\n" + render_phases(self.phases) + diff

    def _explain(self, name: str) -> str:
        """`name (final F; last acked A)`: what the read model shows against the ledger (-1 = absent)."""
        acked = [op.value for op in sorted(self.ledger, key=lambda o: o.started)
                 if op.resource == name and op.outcome == "ack"]
        return f"{name} (final {self.final.get(name)}; last acked {acked[-1] if acked else None})"


async def one_round(tree: Tree, load: Load, rng: random.Random, cfg: Config, report: Report) -> str:
    stop = asyncio.Event()
    task = asyncio.create_task(load.run(stop))
    await asyncio.sleep(rng.uniform(0.2, 1.2))  # the random instant
    candidates = sorted(n for n in tree.pids() if not cfg.components or n in cfg.components)
    victim = candidates[report.rounds % len(candidates)] if cfg.cycle else rng.choice(candidates)
    t_kill = time.monotonic()
    restarted = await asyncio.to_thread(tree.kill, victim)
    if victim.startswith(nodes.PREFIX):  # one node at a time: the next kill finds every replica current
        restarted += await nodes.caught_up(tree.data)
    report.killed[victim] += 1
    await asyncio.sleep(0.3)  # load continues against the restarted component
    stop.set()
    # Converged is measured while the writers drain: a request that died with the killed component is
    # answered only by the client's own timeout (the door's 10 s), which is the client waiting, not Bosun.
    first = asyncio.create_task(_converged_at(load.door, cfg.converge_timeout))
    await task
    drained = time.monotonic() - t_kill
    at = await first
    seconds, _ = await verify.converge(load.door, cfg.converge_timeout)  # and still so once all answered
    converged = None if at is None or seconds is None else at - t_kill
    if converged is None:
        report.unconverged += 1
    else:
        report.convergence.append(converged)
    report.phases.append(Phases(victim, restarted, drained, converged, time.monotonic() - t_kill))
    report.rounds += 1
    return victim


async def _converged_at(door: Door, timeout: float) -> float | None:
    seconds, _ = await verify.converge(door, timeout)
    return None if seconds is None else time.monotonic()


async def run(cfg: Config, tree: Tree | None = None, progress: bool = False) -> Report:
    """Start (or use) a tree, run the rounds, check everything; the tree is stopped only if started here."""
    own = tree is None
    tree = tree or Tree(cfg.data, cfg.up_args).start()
    door = await Door(tree.url, tree.nats, tree.token).open()
    report = Report()
    try:
        first, shrunk = cfg.pool_sizes()
        assert (await door.apply(pool(first))).status == 202
        load = Load(door, cfg.writers, cfg.resources, cfg.seed)
        rng = random.Random(cfg.seed)
        for i in range(cfg.rounds):
            if i == cfg.rounds // 2 and shrunk != first:  # the pool shrinks while deployments hold it
                assert (await door.apply(pool(shrunk))).status == 202
            converged = len(report.convergence)
            victim = await one_round(tree, load, rng, cfg, report)
            if progress:
                after = f"{report.convergence[-1]:.2f} s" if len(report.convergence) > converged else "NEVER"
                print(f"round {i + 1}/{cfg.rounds}: killed {victim}, {len(load.ledger)} requests, "
                      f"converged after {after}", flush=True)
        await conclude(tree, door, load, cfg, report)
    finally:
        await door.close()
        if own:
            tree.stop()
    return report


async def conclude(tree: Tree, door: Door, load: Load, cfg: Config, report: Report) -> None:
    seconds, values = await verify.converge(door, cfg.converge_timeout)
    report.unconverged += seconds is None
    report.ledger, report.final = load.ledger, verify.final_values(values, load.names())
    report.verdict = check(report.ledger, report.final)
    report.duplicates, report.overallocated = verify.data_plane(tree.data)
    report.allocation, report.actuation = await verify.promises(tree.data)
    last: dict[str, str] = {}
    for op in sorted(load.ledger, key=lambda o: o.started):
        last[op.resource] = op.outcome
    report.rebuild_diff = await verify.rebuild_matches(door, late=frozenset(n for n, o in last.items()
                                                                             if o == "unknown"))
