"""Chaos rounds on `bosun up --cluster 3`: the killable list holds every nats-server node (their
pidfiles live in the node directories) beside the components, and killing nodes one at a time — each
round waits until the restarted node's replicas are current again — loses nothing and starts nothing
twice. Bounded: two rounds, both kills of nats nodes (the component rounds are the single-node suite's).

No rerun: the "projection ≠ rebuild after a node kill" it once had in about one run of six had two causes. A
rebuild scanning a lagging replica (direct gets): fixed in `core.log.Log.read`, proven by `test_stale_reads.py`.
And `converge` taking a deployment waiting on a pool freed since (its status still says "0 free" until its
requeue timer) for settled, so it scaled up after the live listing: fixed in `chaos.verify.full`, proven by
`test_chaos_converge.py`."""
from __future__ import annotations

from pathlib import Path

from chaos import nodes
from chaos.rounds import Config, run
from chaos.tree import Tree


async def test_cluster_rounds_kill_nats_nodes_and_lose_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tree = Tree(data, ("--cluster", "3")).start(timeout=120)
    try:
        killable = set(tree.pids())
        assert {"nats-0", "nats-1", "nats-2", "gateway", "controller", "projector", "driver-sim"} <= killable
        assert "nats" not in killable, "a cluster tree has no single-node nats pidfile"
        await nodes.caught_up(data)
        cfg = Config(data, rounds=2, writers=2, resources=2, seed=3, converge_timeout=90,
                     components=("nats-0", "nats-1", "nats-2"))
        report = await run(cfg, tree)
        assert report.rounds == 2 and set(report.killed) <= {"nats-0", "nats-1", "nats-2"}, report.render()
        assert report.verdict.acked > 0 and report.ok, report.render()
        assert all(p.converged is not None for p in report.phases), report.render()
    finally:
        tree.stop()
