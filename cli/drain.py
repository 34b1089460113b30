"""`bosun drain node/NAME [--timeout D]`: cordon a node and move every replica off it, make-before-break.

The drain is an intent in the log, not work the CLI does: it sets the Node's `spec.unschedulable` and
`spec.drain` (If-Match, like `bosun cordon`; RBAC: whoever may update the Node). Each pool made of nodes
tells the deployments holding slots there, and each starts a replacement elsewhere and stops its replica on
the node only once enough replicas are Ready (docs/nodes.md, "Drain"). The command then follows the
progress — the Node's status (`drain.replicasLeft`, as its agent reports) and the deployments with
replicas on it (`status.replicasByNode`, `status.drainingReplicas`) — printing each change, until the node
holds none (exit 0) or the timeout (exit 1, with what is left and why). The node stays cordoned either way,
and on a timeout keeps draining: `bosun uncordon node/NAME` ends the drain.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from cli.base import Settings, fail, pass_settings, reports_errors
from cli.wait import Duration

if TYPE_CHECKING:
    from bosun.client import Client

POLL = 0.5
RELIST = 5.0
"""Every deployment is listed this often (the ones holding replicas on the node are read at every poll)."""


class Holder(NamedTuple):
    """One deployment with replicas on the node being drained, as its status says."""

    ref: str
    left: int
    """Its replicas on the node (still serving, or stopping)."""
    replicas: tuple[str, ...]
    """Their ids, once the deployment knows the node drains (`status.drainingReplicas`)."""
    ready: int
    desired: int
    reason: str
    message: str
    by_node: str = ""
    """Where its replicas run now (`status.replicasByNode`), e.g. `d2=2,d3=2`."""

    def line(self, node: str) -> str:
        where = f"; on {self.by_node}" if self.by_node else ""
        if not self.left:
            return f"{self.ref}: no replica left on {node} ({self.ready}/{self.desired} ready{where})"
        ids = f" ({', '.join(self.replicas)})" if self.replicas else ""
        why = f" — {self.reason}: {self.message}" if self.message and self.reason != "Converged" else ""
        return f"{self.ref}: {self.left} left on {node}{ids}, {self.ready}/{self.desired} ready{where}{why}"


def node_name(ref: str) -> str:
    kind, _, name = ref.rpartition("/")
    if kind.lower() not in ("", "node", "nodes", "no") or not name:
        fail("Invalid", f"expected node/NAME, got {ref!r}")
    return name


def holder(obj: dict[str, Any], node: str) -> Holder | None:
    """What a deployment's status says it has on `node` (None: nothing, and it was never told to move)."""
    status = obj.get("status") or {}
    draining = {r for r, n in (status.get("drainingReplicas") or {}).items() if n == node}
    by_node = status.get("replicasByNode") or {}
    counted = int(by_node.get(node, 0))
    if not draining and not counted:
        return None
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})
    meta = obj.get("metadata") or {}
    return Holder(f"{meta.get('namespace', '')}/{meta.get('name', '')}", len(draining) or counted,
                  tuple(sorted(draining)), int(status.get("readyReplicas", 0)), int(status.get("desiredReplicas", 0)),
                  str(ready.get("reason", "")), str(ready.get("message", "")),
                  ",".join(f"{k}={v}" for k, v in sorted(by_node.items())))


def mark(client: Client, name: str) -> int:
    """Set `spec.unschedulable` and `spec.drain` on the Node (keeping the rest of its spec); the generation to
    wait for in its status."""
    from bosun.errors import NotFound

    try:
        obj = client.get("Node", name)
    except NotFound:
        fail("NotFound", f"no node {name}")
    spec = dict(obj.get("spec") or {})
    if spec.get("unschedulable") and spec.get("drain"):
        click.echo(f"node/{name} already cordoned and draining")
        return int(obj["metadata"].get("generation", 0))
    spec.update(unschedulable=True, drain=True)
    applied = client.apply({"kind": "Node", "metadata": {"name": name}, "spec": spec},
                           if_match=obj["metadata"]["resourceVersion"])
    click.echo(f"node/{name} cordoned; draining: each replica is replaced elsewhere before it stops")
    return int(applied.generation)


class Follow:
    """Reads where the drain stands and prints what changed since the last reading."""

    def __init__(self, client: Client, node: str, generation: int) -> None:
        self.client, self.node, self.generation = client, node, generation
        self.started = time.monotonic()
        self.listed_at = -RELIST
        self.listable = True
        self.holders: dict[str, Holder] = {}
        self.printed: dict[str, str] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, key: str, text: str) -> None:
        if self.printed.get(key) != text:
            self.printed[key] = text
            click.echo(f"{self.elapsed():6.1f}s {text}")

    def node_status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.client.get("Node", self.node).get("status") or {}
        return status

    def deployments(self) -> dict[str, Holder]:
        """The deployments with replicas on the node: every one listed now and then, those known at every poll."""
        from bosun.errors import Forbidden, NotFound

        found: dict[str, Holder] = {}
        if self.listable and time.monotonic() - self.listed_at >= RELIST:
            try:
                objs = list(self.client.list("ModelDeployment"))
            except Forbidden:
                self.listable = False  # the Node's own count still tells when it is empty
                click.echo("(not allowed to list every deployment: following the node's own count only)", err=True)
                return {}
            self.listed_at = time.monotonic()
        else:
            objs = []
            for ref in self.holders:
                namespace, _, name = ref.partition("/")
                try:
                    objs.append(self.client.get("ModelDeployment", name, namespace=namespace))
                except NotFound:
                    continue
        for obj in objs:
            h = holder(obj, self.node)
            if h is not None:
                found[h.ref] = h
        return found

    def _gone(self, ref: str) -> str:
        """The last line of a deployment with no replica left on the node: read once more, for where they are."""
        from bosun.errors import NotFound

        namespace, _, name = ref.partition("/")
        was = self.holders[ref]._replace(left=0, replicas=())
        try:
            status = self.client.get("ModelDeployment", name, namespace=namespace).get("status") or {}
        except NotFound:
            return f"{ref}: deleted"
        where = ",".join(f"{k}={v}" for k, v in sorted((status.get("replicasByNode") or {}).items()))
        return was._replace(ready=int(status.get("readyReplicas", 0)), by_node=where).line(self.node)

    def step(self) -> tuple[bool, int]:
        """One reading: (drained, replicas left on the node as the agent last said)."""
        status = self.node_status()
        drain = status.get("drain") or {}
        left = int(drain.get("replicasLeft", status.get("replicas", 0)))
        current = int(status.get("observedGeneration", 0)) >= self.generation and bool(drain)
        if status.get("phase") != "Ready":
            ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})
            self.say("phase", f"node/{self.node} is {status.get('phase', '?')} ({ready.get('reason', '?')}): its "
                              f"replicas stop only once its agent is back")
        self.say("node", f"node/{self.node}: {drain.get('phase', 'Draining')}, {left} replica(s) left on it")
        holders = self.deployments()
        for ref in sorted(set(self.holders) | set(holders)):
            h = holders.get(ref)
            if h is not None:
                self.say(ref, h.line(self.node))
            elif ref in self.holders:
                self.say(ref, self._gone(ref))
        self.holders = holders
        return current and drain.get("phase") == "Drained" and left == 0 and not holders, left


@click.command("drain")
@click.argument("ref", metavar="node/NAME")
@click.option("--timeout", type=Duration(), default=300.0, show_default="5m",
              help="Give up (exit 1) after this long (90, 30s, 5m, 1h); the node stays cordoned and draining.")
@pass_settings
@reports_errors
def drain(settings: Settings, ref: str, timeout: float) -> None:
    """Cordon a node and move every replica off it, make-before-break (a replacement is Ready elsewhere before
    each replica there stops); exit 0 once it holds none, 1 at the timeout. It stays cordoned."""
    name = node_name(ref)
    with settings.client() as client:
        generation = mark(client, name)
        follow = Follow(client, name, generation)
        deadline = time.monotonic() + timeout
        while True:
            done, left = follow.step()
            if done:
                click.echo(f"node/{name} drained in {follow.elapsed():.1f}s; it stays cordoned "
                           f"(bosun uncordon node/{name})")
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
    details = [(h.ref, f"{h.left} on {name}: {h.reason}: {h.message}" if h.message else f"{h.left} on {name}")
               for h in follow.holders.values()]
    fail("Timeout", f"node/{name} still holds {left} replica(s) after {timeout:g}s; it stays cordoned and keeps "
                    f"draining (bosun uncordon node/{name} stops the drain)", details)
