"""`bosun node join|remove NAME` (an admin makes or revokes a machine's credential), `bosun agent` (runs on
that machine), `bosun cordon|uncordon node/NAME` (`bosun drain node/NAME`: `cli.drain`).

docs/nodes.md is the guide. A join writes three resources through the gateway, as any apply: the Node
(unless it exists: its spec is the users'), the Principal `node-<NAME>` with a fresh token's digest (a
second join rotates the token: the old one's connections are closed), and its RoleBinding to the built-in
role `node`. The token itself only ever lands in the join file.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from pathlib import Path

import click

from cli.base import Settings, fail, pass_settings, reports_errors
from cli.components import data_dir, data_option, serve_until_signalled
from cli.drain import drain


@click.group("node")
def node_group() -> None:
    """Machines that run replicas (docs/nodes.md)."""


@node_group.command("join")
@click.argument("name")
@click.option("--nats", "nats_url", metavar="URL",
              help="NATS seed URLs the agent connects to, comma-separated [default: BOSUN_NATS_URL, else "
                   "<data>/connection.json's].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the join file here (mode 0600) instead of printing it.")
@click.option("--node-timeout", type=click.FloatRange(min=0), default=None, metavar="S",
              help="The plane's node timeout, written into the join file [default: <data>/connection.json's, "
                   "else 10].")
@click.option("--eviction-timeout", type=click.FloatRange(min=0), default=None, metavar="S",
              help="The plane's eviction timeout, written into the join file: with the node timeout, how long a "
                   "cut-off agent waits before it stops its replicas [default: <data>/connection.json's, else "
                   "BOSUN_EVICTION_TIMEOUT, else 30].")
@pass_settings
@reports_errors
def join(settings: Settings, name: str, nats_url: str | None, output: Path | None, node_timeout: float | None,
         eviction_timeout: float | None) -> None:
    """Make node NAME's credential and print its join file (JSON: NATS seed URLs and the node's token)."""
    import msgspec

    from bosun.errors import NotFound
    from core import natsusers, nodes

    try:
        msgspec.convert(name, nodes.NodeName)
    except msgspec.ValidationError:
        fail("Invalid", f"a node name is a DNS label of at most {nodes.MAX_NAME} characters, got {name!r}")
    seeds = _seeds(settings, nats_url)
    token = secrets.token_urlsafe(32)
    principal = nodes.principal(name)
    with settings.client() as client:
        try:
            client.get("Node", name)
        except NotFound:
            client.apply({"kind": "Node", "metadata": {"name": name}, "spec": {}})
        client.apply({"kind": "Principal", "metadata": {"name": principal},
                      "spec": {"tokenSha256": hashlib.sha256(token.encode()).hexdigest()}}, force=True)
        client.apply({"kind": "RoleBinding", "metadata": {"name": principal},
                      "spec": {"principal": principal, "role": nodes.ROLE}}, force=True)
    plane = _plane_timeouts(settings)
    body = msgspec.json.encode(nodes.JoinFile(
        node=name, nats=seeds, token=token, inbox_prefix=natsusers.client_inbox(principal),
        node_timeout=plane.get("nodeTimeout", 10.0) if node_timeout is None else node_timeout,
        eviction_timeout=plane.get("evictionTimeout", settings.env.eviction_timeout) if eviction_timeout is None
        else eviction_timeout))
    text = json.dumps(json.loads(body), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    click.echo(f"join file for node {name} written to {output}; on the machine: "
               f"bosun agent --join {output.name} --node {name}", err=True)


@node_group.command("remove")
@click.argument("name")
@pass_settings
@reports_errors
def remove(settings: Settings, name: str) -> None:
    """Take node NAME out of the plane: its credential first (its agent is refused and stops), then the Node and
    its command consumer."""
    from bosun.errors import NotFound
    from core import nodes

    principal = nodes.principal(name)
    with settings.client() as client:
        for kind, what in (("RoleBinding", principal), ("Principal", principal), ("Node", name)):
            try:
                client.delete(kind, what)
            except NotFound:
                continue
        client.call("DELETE", f"/v1/namespaces/default/nodes/{name}/commands")
    click.echo(f"node/{name} removed (its credential revoked, its command consumer {nodes.consumer(name)} deleted)")
    if _local_node(settings) == name:
        click.echo(f"node/{name} is this plane's own machine: `bosun up` stops its agent for good (not restarted); "
                   f"the next `bosun up` joins it again unless started with --no-node", err=True)


def _local_node(settings: Settings) -> str:
    """The node `bosun up` of this data directory runs an agent for ("" when none, or unreadable)."""
    try:
        return str(json.loads((settings.data / "agent" / "join.json").read_text())["node"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _plane_timeouts(settings: Settings) -> dict[str, float]:
    """The node and eviction timeouts `bosun up` of this data directory runs its controllers with (its
    `connection.json` says them); empty when there is none, or it is older."""
    try:
        conn = json.loads((settings.data / "connection.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(conn, dict):
        return {}
    return {k: float(v) for k in ("nodeTimeout", "evictionTimeout")
            if isinstance(v := conn.get(k), int | float) and not isinstance(v, bool) and v >= 0}


def _seeds(settings: Settings, nats_url: str | None) -> list[str]:
    from core import natscreds

    url = nats_url or settings.env.nats_url
    if not url:
        conn = settings.data / "connection.json"
        if not conn.exists():
            fail("NoServer", f"no NATS URL: pass --nats or run `bosun up` (no {conn})")
        url = str(json.loads(conn.read_text())["nats"])
    return [natscreds.without_password(u.strip()) for u in url.split(",") if u.strip()]


@click.command("agent")
@click.option("--join", "join_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The join file `bosun node join NAME` made.")
@click.option("--join-dir", "join_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Instead of --join: take the first join file of this directory no other agent holds (a "
                   "scaled service's agents, each its own node; docs/nodes.md).")
@click.option("--node", "node", default=None, help="This machine's node name (the join file's) [required with "
                                                   "--join].")
@click.option("--labels", default="", metavar="k=v,…", help="Labels of this node (a pool's nodeSelector reads them).")
@click.option("--gpus", default="auto", show_default=True, metavar="auto|N|ID,…",
              help="auto: discover through NVML (none without it); N: devices 0..N-1; or the device ids.")
@click.option("--stop-replicas-on-exit", "stop_replicas", is_flag=True,
              help="Stop the replicas it runs when it is stopped (what `bosun up` runs its own node's agent "
                   "with, unless --keep-replicas) [default: they run on, adopted at its next start].")
@click.option("--fence-after", "fence_after", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Cut off from the plane this long (no heartbeat acknowledged), stop every replica it runs: the "
                   "plane has replaced them by then; 0: never [default: the join file's node timeout + eviction "
                   "timeout, else 40].")
@data_option
def agent(join_file: Path | None, join_dir: Path | None, node: str | None, labels: str, gpus: str,
          stop_replicas: bool, fence_after: float | None, data: Path | None) -> None:
    """Run this machine's agent: join the plane as node NODE, beat its heartbeat, report its GPUs."""
    from core import nodes
    from dataplane.agent import agent as node_agent
    from dataplane.agent import claims, cutoff
    from dataplane.agent import gpus as discovery

    try:
        parsed = nodes.parse_labels(labels)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--labels") from e
    try:
        found = discovery.discover() if gpus.strip() == "auto" else discovery.declared(gpus)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--gpus") from e
    where = data_dir(data)
    if (join_file is None) == (join_dir is None):
        raise click.UsageError("give either --join FILE (with --node NAME) or --join-dir DIR")
    if join_dir is not None and node is not None:
        raise click.UsageError("with --join-dir the node is the join file's it takes: no --node")
    if join_dir is not None:
        try:
            join_file, _held = claims.claim(join_dir, where)  # held (locked) until this process ends
        except claims.NoneFree as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"bosun agent: took {join_file} (held by this agent while it runs)", err=True)
    assert join_file is not None
    if found.note:
        click.echo(f"bosun agent: joining with 0 GPUs: {found.note}", err=True)
    try:
        join = node_agent.read_join(join_file)
    except Exception as e:  # any unreadable file is the same usage error
        raise click.BadParameter(f"not a join file: {e}", param_hint="--join") from e
    if node is None and join_dir is None:
        raise click.MissingParameter(param_type="option", param_hint="--node")
    node = node or join.node
    if join.node != node:
        raise click.BadParameter(f"the join file is node {join.node}'s, not {node}'s", param_hint="--node")
    from cli.base import environment

    env = environment()
    try:
        serve_until_signalled(f"agent-{node}", lambda stop: node_agent.serve(
            join, node=node, labels=parsed, found=found, data_dir=where, stop=stop, stop_replicas=stop_replicas,
            fence_after=cutoff.fence_after(join, fence_after)),
            None, env)
    except node_agent.TokenRefused as e:  # one line, and a status that says "do not restart me"
        click.echo(f"bosun agent: {e}", err=True)
        sys.exit(nodes.REFUSED_EXIT)


def _cordon(settings: Settings, ref: str, unschedulable: bool) -> None:
    """Set the Node's `spec.unschedulable`, keeping the rest of its spec (If-Match: no lost update)."""
    from bosun.errors import NotFound

    kind, _, name = ref.rpartition("/")
    if kind.lower() not in ("", "node", "nodes", "no") or not name:
        fail("Invalid", f"expected node/NAME, got {ref!r}")
    with settings.client() as client:
        try:
            obj = client.get("Node", name)
        except NotFound:
            fail("NotFound", f"no node {name}")
        spec = dict(obj.get("spec") or {})
        if bool(spec.get("unschedulable", False)) == unschedulable and not (spec.get("drain") and not unschedulable):
            click.echo(f"node/{name} already {'cordoned' if unschedulable else 'uncordoned'}")
            return
        spec["unschedulable"] = unschedulable
        if not unschedulable:
            spec.pop("drain", None)  # uncordon ends a drain too
        client.apply({"kind": "Node", "metadata": {"name": name}, "spec": spec},
                     if_match=obj["metadata"]["resourceVersion"])
    click.echo(f"node/{name} {'cordoned' if unschedulable else 'uncordoned'}")


@click.command("cordon")
@click.argument("ref", metavar="node/NAME")
@pass_settings
@reports_errors
def cordon(settings: Settings, ref: str) -> None:
    """Mark a node unschedulable: no new replica goes there; what runs there runs on."""
    _cordon(settings, ref, True)


@click.command("uncordon")
@click.argument("ref", metavar="node/NAME")
@pass_settings
@reports_errors
def uncordon(settings: Settings, ref: str) -> None:
    """Mark a node schedulable again (ending a drain: what moved stays where it went)."""
    _cordon(settings, ref, False)


COMMANDS = (node_group, agent, cordon, uncordon, drain)
