"""Simulated nodes' world on SQLite: the nodes (their GPUs, zone, epoch, whether stopped) and the replicas a
node pool placed on them, simulated like the sim driver's (no process: Ready after the seeded latency).

It is the sim's `World` with a node per replica: a start names its node and devices (`StartOnNode`, the pool
ledger's choice), which are checked again here as an agent checks them (the node exists and runs, one device
per GPU asked, every device the node's and held by no other replica of it); a refusal is a visible
`ReplicaLost`. A stopped node (`bosun sim node stop NAME`, straight in this file as `kill-replica` is) is a
machine that died: it beats no more, says nothing, and its replicas are gone (tombstoned unreported: its
eviction is the control plane's job); commands sent to it are dropped. Started again it joins with a new epoch
and nothing running.
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from core.names import Ref
from core.replicas import ReplicaStarted, StartOnNode
from dataplane.base import store as ledger
from dataplane.base.ledger import NO_CAUSE, Cause
from dataplane.base.store import transaction
from dataplane.sim.rules import ready_delay
from dataplane.sim.world import DRIFT, World

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    gpus INTEGER NOT NULL,
    zone TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,     -- grows at every start of the component and of the node
    stopped INTEGER NOT NULL DEFAULT 0,
    fence INTEGER NOT NULL DEFAULT 0      -- stream sequence of the last eviction carried out (beats carry it)
);
CREATE TABLE IF NOT EXISTS replicas (
    token TEXT NOT NULL,
    replica TEXT NOT NULL,
    pool TEXT NOT NULL,
    node TEXT NOT NULL,
    devices TEXT NOT NULL,                -- comma-separated device ids
    gpus INTEGER NOT NULL,
    model TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('starting', 'ready')),
    ready_at REAL NOT NULL,
    PRIMARY KEY (token, replica)
);
CREATE INDEX IF NOT EXISTS replicas_by_node ON replicas (node);
CREATE INDEX IF NOT EXISTS replicas_by_readiness ON replicas (state, ready_at);
"""
ZONES = ("zone-a", "zone-b", "zone-c", "zone-d")
STOPPED = "node stopped (simulated machine loss)"


def db_path(data_dir: Path) -> Path:
    return Path(data_dir) / "sim" / "nodes.db"


def connect(data_dir: Path) -> sqlite3.Connection:
    return ledger.connect(db_path(data_dir), SCHEMA)


def zone_of(name: str, index: int) -> str:
    """Zones round-robin over the node numbers: every zone holds about as many nodes."""
    return ZONES[index % len(ZONES)]


def labels(name: str, zone: str) -> dict[str, str]:
    """What a simulated node says about itself (a node pool selects them by `sim: "true"`)."""
    return {"sim": "true", "zone": zone, "gpu": "sim", "node": name}


class NodesWorld(World):
    @classmethod
    def open(cls, data_dir: Path, *, latency: float = 0.05, seed: int = 0) -> NodesWorld:
        return cls(connect(data_dir), latency=latency, seed=seed)

    # ---- the nodes ----------------------------------------------------------------------------------

    def ensure_nodes(self, names: Iterable[str], gpus: int) -> None:
        """The nodes this run serves, each one's epoch bumped (a new incarnation); nodes of an earlier run
        that are not among them are stopped."""
        names = list(names)
        with transaction(self.conn) as c:
            for i, name in enumerate(names):
                c.execute("INSERT INTO nodes (name, gpus, zone, epoch) VALUES (?, ?, ?, 1) ON CONFLICT DO UPDATE"
                          " SET gpus = excluded.gpus, epoch = epoch + 1", (name, gpus, zone_of(name, i)))
            c.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (name TEXT PRIMARY KEY)")
            c.execute("DELETE FROM wanted")
            c.executemany("INSERT INTO wanted VALUES (?)", [(n,) for n in names])
            for (gone,) in c.execute("SELECT name FROM nodes WHERE stopped = 0 AND name NOT IN"
                                     " (SELECT name FROM wanted)").fetchall():
                _stop(c, gone)

    def nodes(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM nodes ORDER BY name").fetchall()

    def usage(self) -> dict[str, tuple[int, tuple[str, ...]]]:
        """node -> (replicas it runs, device ids they hold)."""
        out: dict[str, tuple[int, tuple[str, ...]]] = {}
        for r in self.conn.execute("SELECT node, COUNT(*) AS n, group_concat(devices) AS devices FROM replicas"
                                   " GROUP BY node"):
            out[r["node"]] = (r["n"], tuple(sorted(d for d in (r["devices"] or "").split(",") if d)))
        return out

    def evict(self, node: str, replicas: Iterable[tuple[Ref, str, str]], seq: int, now: float,
              cause: Cause = NO_CAUSE) -> int:
        """`EvictReplicas` at stream sequence `seq`: stop each named replica the node still runs (reported
        stopped, as an agent does), then move the node's fence to `seq` (its beats say it: the node is Ready
        again only from a beat reaching it). A stopped node runs nothing: its fence moves all the same, so
        started again it beats past it. Returns how many it stopped."""
        stopped = 0
        with transaction(self.conn) as c:
            running = self.running(node)
            for ref, rid, pool in replicas:
                held = c.execute("SELECT 1 FROM replicas WHERE token = ? AND replica = ? AND node = ?",
                                 (ref.token, rid, node)).fetchone()
                if running and held:
                    c.execute("DELETE FROM replicas WHERE token = ? AND replica = ?", (ref.token, rid))
                    self._settle_stopped(ref, rid, pool, now, cause)
                    stopped += 1
            c.execute("UPDATE nodes SET fence = MAX(fence, ?) WHERE name = ?", (seq, node))
        return stopped

    def running(self, node: str) -> bool:
        row = self.conn.execute("SELECT stopped FROM nodes WHERE name = ?", (node,)).fetchone()
        return row is not None and not row["stopped"]

    # ---- replicas -----------------------------------------------------------------------------------

    def start_on_node(self, ref: Ref, cmd: StartOnNode, now: float, cause: Cause = NO_CAUSE) -> str:
        """Start the replica on its node unless it exists, is settled, or the node refuses it; a stopped
        node does nothing at all ("dropped": a dead machine answers nothing)."""
        token, rid = ref.token, cmd.replica
        with transaction(self.conn) as c:
            node = c.execute("SELECT * FROM nodes WHERE name = ?", (cmd.node,)).fetchone()
            if node is not None and node["stopped"]:
                return "dropped"
            known = self._already_known(ref, rid, DRIFT, now, cause)
            if known is not None:
                return known
            why = self._refusal(cmd, node)
            if why is not None:
                self._lose(ref, rid, cmd.pool, why, now, cause)
                return "refused"
            c.execute("INSERT INTO replicas VALUES (?,?,?,?,?,?,?, 'starting', ?)",
                      (token, rid, cmd.pool, cmd.node, ",".join(cmd.devices), cmd.gpus, cmd.model,
                       now + ready_delay(self.latency, self.seed, token, rid)))
            c.execute("INSERT INTO starts VALUES (?,?,1) ON CONFLICT DO UPDATE SET n = n + 1", (token, rid))
            c.execute("INSERT INTO reported (token, replica, pool, state) VALUES (?,?,?, 'starting')",
                      (token, rid, cmd.pool))
            self._report(ref, ReplicaStarted(replica=rid, pool=cmd.pool), self._id(token, rid, "started"), now,
                         cause)
        return "started"

    def _refusal(self, cmd: StartOnNode, node: sqlite3.Row | None) -> str | None:
        """Why the node refuses the start (the agent's own check of the ledger's choice), or None."""
        if node is None:
            return f"no simulated node {cmd.node}"
        devices = set(cmd.devices)
        if len(cmd.devices) != cmd.gpus or len(devices) != len(cmd.devices):
            return f"asks for {cmd.gpus} GPU but names devices {','.join(cmd.devices) or '-'}"
        foreign = sorted(devices - {str(i) for i in range(node["gpus"])})
        if foreign:
            return f"node {cmd.node} has no device {','.join(foreign)}"
        held = {d for r in self.conn.execute("SELECT devices FROM replicas WHERE node = ?", (cmd.node,))
                for d in r["devices"].split(",") if d}
        clash = sorted(held & devices)
        if clash:
            return (f"device {','.join(clash)} of node {cmd.node} is used by another replica: "
                    "refused (one device never serves two replicas)")
        return None


def _stop(c: sqlite3.Connection, name: str) -> int:
    """Stop node `name` (inside a transaction): its replicas vanish unreported; returns how many."""
    c.execute("UPDATE reported SET state = 'lost', reason = ? WHERE state IN ('starting', 'ready') AND"
              " (token, replica) IN (SELECT token, replica FROM replicas WHERE node = ?)", (STOPPED, name))
    gone = c.execute("DELETE FROM replicas WHERE node = ?", (name,)).rowcount
    c.execute("UPDATE nodes SET stopped = 1 WHERE name = ?", (name,))
    return gone


def set_stopped(data_dir: Path, names: Iterable[str], stopped: bool) -> list[str]:
    """`bosun sim node stop|start`: straight in the world's file (the component notices within a beat);
    returns the names it changed (unknown names and nodes already so are skipped)."""
    changed = []
    with contextlib.closing(connect(data_dir)) as conn, transaction(conn) as c:
        for name in names:
            row = c.execute("SELECT stopped FROM nodes WHERE name = ?", (name,)).fetchone()
            if row is None or bool(row["stopped"]) == stopped:
                continue
            if stopped:
                _stop(c, name)
            else:
                c.execute("UPDATE nodes SET stopped = 0, epoch = epoch + 1 WHERE name = ?", (name,))
            changed.append(name)
    return changed


def summary(data_dir: Path) -> dict[str, dict[str, object]]:
    """node -> {gpus, zone, epoch, stopped, replicas, fence} (tests, benches, `bosun sim node`)."""
    with contextlib.closing(connect(data_dir)) as conn:
        counts = {r["node"]: r["n"] for r in conn.execute("SELECT node, COUNT(*) AS n FROM replicas GROUP BY node")}
        return {r["name"]: {"gpus": r["gpus"], "zone": r["zone"], "epoch": r["epoch"], "stopped": bool(r["stopped"]),
                            "replicas": counts.get(r["name"], 0), "fence": r["fence"]}
                for r in conn.execute("SELECT * FROM nodes ORDER BY name")}
