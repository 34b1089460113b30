"""`bosun driver sim|process`: the data-plane drivers as components, and the sim's demo verbs (`kill-replica`,
`set-load`). Like every component command, each imports its driver inside the command.
"""
from __future__ import annotations

from pathlib import Path

import click

from cli.base import environment
from cli.components import (
    as_component,
    data_dir,
    data_option,
    metrics_option,
    nats_option,
    serve_until_signalled,
)


@click.group()
def driver() -> None:
    """Data-plane drivers."""


@driver.group(invoke_without_command=True)
@nats_option(required=False)
@data_option
@click.option("--latency", type=float, default=0.05, show_default=True, help="Replica start-up latency (s).")
@click.option("--seed", type=int, default=0, show_default=True, help="Fault-injection seed.")
@click.option("--relist-interval", type=float, default=2.0, show_default=True,
              help="Seconds between drift re-lists.")
@metrics_option
@click.pass_context
def sim(ctx: click.Context, nats_url: str | None, data: Path | None, latency: float, seed: int, relist_interval: float,
        metrics_port: int | None) -> None:
    """Run the simulated GPU-pool driver."""
    if ctx.invoked_subcommand is not None:
        return
    if not nats_url:
        raise click.UsageError("Missing option '--nats' (or BOSUN_NATS_URL).")
    from dataplane.sim import driver as sim_driver

    env = environment()
    nats_url = as_component(nats_url, "driver", env)
    serve_until_signalled("driver-sim", lambda stop: sim_driver.serve(
        nats_url, data_dir(data), stop=stop, latency=latency, seed=seed, relist_interval=relist_interval,
        settings=env), metrics_port, env)


@driver.command("sim-nodes")
@nats_option()
@data_option
@click.option("--count", type=click.IntRange(1, 99_999), required=True, help="Simulated nodes (sim-0001 ...).")
@click.option("--gpus", type=click.IntRange(0, 1024), default=8, show_default=True, help="GPUs of each node.")
@click.option("--latency", type=float, default=0.05, show_default=True, help="Replica start-up latency (s).")
@click.option("--seed", type=int, default=0, show_default=True, help="Start-up jitter seed.")
@metrics_option
def sim_nodes(nats_url: str, data: Path | None, count: int, gpus: int, latency: float, seed: int,
              metrics_port: int | None) -> None:
    """Run simulated nodes: one process joins, beats and runs the replicas of every one (`bosun up --sim-nodes`).
    Its NATS user (`sim-nodes`, in the credentials file) may touch only those nodes' heartbeat keys."""
    from core import natsusers, nodes
    from dataplane.sim import nodedriver

    env = environment()
    nats_url = as_component(nats_url, natsusers.SIM_NODES, env)
    serve_until_signalled("driver-sim-nodes", lambda stop: nodedriver.serve(
        nats_url, data_dir(data), names=nodes.sim_names(count), gpus=gpus, stop=stop, latency=latency, seed=seed,
        settings=env), metrics_port, env)


@driver.command("process")
@nats_option()
@data_option
@click.option("--relist-interval", type=float, default=2.0, show_default=True,
              help="Seconds between re-lists of the processes that run.")
@click.option("--load-interval", type=float, default=2.0, show_default=True,
              help="Seconds between load measurements (autoscaling).")
@click.option("--replica-uids", default="61000-70999", show_default=True, metavar="FIRST-LAST",
              help="As root: the uids replicas run as, one per namespace (no /etc/passwd entry needed).")
@click.option("--replica-user", type=click.IntRange(1, (1 << 32) - 2), default=None, metavar="UID",
              help="As root: run every replica as this uid (and gid) instead of one uid per namespace.")
@click.option("--replica-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where replicas' own directories are made [default: /var/tmp/bosun-replicas-<id> as root, "
                   "else <data>/process/work].")
@click.option("--stop-replicas-on-exit", "stop_replicas", is_flag=True,
              help="Stop the replicas it runs when it is stopped (default: they run on, adopted at restart).")
@metrics_option
def process(nats_url: str, data: Path | None, relist_interval: float, load_interval: float, replica_uids: str,
            replica_user: int | None, replica_root: Path | None, stop_replicas: bool, metrics_port: int | None
            ) -> None:
    """Run the process driver: replicas of `process` pools as real OS processes on this machine, each fenced
    in (docs/security.md): as root, its own uid per namespace; always its own directory, a clean environment.
    Its NATS user comes from the credentials file (BOSUN_NATS_CREDENTIALS): no secret in its environment or
    argv."""
    import dataclasses

    from core import natscreds
    from dataplane.process import driver as process_driver
    from dataplane.process import fence

    if natscreds.has_password(nats_url):
        raise click.UsageError("the process driver takes no password in its NATS URL (its replicas could read it "
                               "from its environment or argv): give its user in the credentials file "
                               "BOSUN_NATS_CREDENTIALS names instead")
    first, _, last = replica_uids.partition("-")
    if not (first.isdigit() and last.isdigit() and 0 < int(first) <= int(last)):
        raise click.BadParameter("expected FIRST-LAST, e.g. 61000-70999", param_hint="--replica-uids")
    fenced = dataclasses.replace(fence.default(data_dir(data)), uids=range(int(first), int(last) + 1),
                                 user=replica_user)
    if replica_root is not None:
        fenced = dataclasses.replace(fenced, root=replica_root.resolve())
    env = environment()
    nats_url = as_component(nats_url, "driver", env)
    serve_until_signalled("driver-process", lambda stop: process_driver.serve(
        nats_url, data_dir(data), stop=stop, relist_interval=relist_interval, load_interval=load_interval,
        settings=env, fence=fenced, stop_replicas=stop_replicas), metrics_port, env)


@sim.command("kill-replica")
@click.argument("target", metavar="KIND/NAME")
@click.argument("replica", required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@data_option
def kill_replica(target: str, replica: str | None, namespace: str, data: Path | None) -> None:
    """Kill replicas behind Bosun's back (demos, drift tests); prints the killed replica ids."""
    from dataplane import sim as sim_pkg

    kind, _, name = target.rpartition("/")
    killed = sim_pkg.kill_replica(data_dir(data), namespace, name, replica, kind=_kind_key(kind or "modeldeployment"))
    for replica_id in killed:
        click.echo(replica_id)
    if not killed:
        raise click.ClickException(f"no running replica of {target} in {namespace}")


@sim.command("set-load")
@click.argument("target", metavar="KIND/NAME")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--rps", type=click.FloatRange(min=0, max=1e12), required=True,
              help="Requests per second the sim reports (finite).")
@data_option
def set_load(target: str, namespace: str, rps: float, data: Path | None) -> None:
    """Set a deployment's synthetic load: the sim driver reports it, the autoscaler follows it."""
    from dataplane.sim.load import set_load as set_sim_load

    kind, _, name = target.rpartition("/")
    try:
        set_sim_load(data_dir(data), namespace, name, rps, kind=_kind_key(kind or "modeldeployment"))
    except ValueError as e:  # NaN passes click's range check
        raise click.BadParameter(str(e), param_hint="--rps") from e


def _kind_key(name: str) -> str:
    """`ModelDeployment`, `modeldeployments`, a short name ... -> the kind's subject token."""
    from cli.base import registry

    info = registry().resolve(name)
    if info is None:
        raise click.BadParameter(f"unknown kind {name!r}", param_hint="KIND/NAME")
    return info.key


@click.group("sim")
def sim_group() -> None:
    """Simulated nodes (`bosun up --sim-nodes N`): list them, stop or start them behind Bosun's back."""


@sim_group.group("node", invoke_without_command=True)
@data_option
@click.pass_context
def sim_node(ctx: click.Context, data: Path | None) -> None:
    """List the simulated nodes (NAME, ZONE, GPUS, REPLICAS, STOPPED), or stop/start some."""
    if ctx.invoked_subcommand is not None:
        return
    from dataplane.sim.nodeworld import summary

    rows = summary(data_dir(data))
    click.echo(f"{'NAME':<12}{'ZONE':<9}{'GPUS':>5}{'REPLICAS':>10}  STOPPED")
    for name, row in rows.items():
        stopped = str(row["stopped"]).lower()
        click.echo(f"{name:<12}{row['zone']!s:<9}{row['gpus']!s:>5}{row['replicas']!s:>10}  {stopped}")


@sim_node.command("stop")
@click.argument("names", nargs=-1, required=True)
@data_option
def sim_node_stop(names: tuple[str, ...], data: Path | None) -> None:
    """Stop simulated nodes as if their machines died: no heartbeat, their replicas gone (the node lifecycle
    controller finds them NotReady after --node-timeout). Needs the data directory: an operator's act."""
    _set_stopped(names, data, True)


@sim_node.command("start")
@click.argument("names", nargs=-1, required=True)
@data_option
def sim_node_start(names: tuple[str, ...], data: Path | None) -> None:
    """Start stopped simulated nodes again: each joins with a new epoch and nothing running."""
    _set_stopped(names, data, False)


def _set_stopped(names: tuple[str, ...], data: Path | None, stopped: bool) -> None:
    from dataplane.sim.nodeworld import set_stopped, summary

    known = summary(data_dir(data))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.ClickException(f"no simulated node {', '.join(unknown)} (bosun up --sim-nodes N makes them)")
    for name in set_stopped(data_dir(data), names, stopped):
        click.echo(f"node/{name} {'stopped' if stopped else 'started'}")
