"""Process-level commands: `bosun up`, and each component on its own (`controller`, `projector`,
`gateway`; the drivers in `cli.drivers`), so every piece can run as its own process against an external NATS
cluster.

Component modules are imported inside the commands: `bosun get` should not pay for litestar, and a
command only needs the component it runs.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import click
import structlog
from msgspec.structs import replace

from cli.base import duration, environment
from core import logs, loops
from core import settings as core_settings

F = TypeVar("F", bound=Callable[..., Any])
Serve = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

log = structlog.get_logger("bosun")

STOP_GRACE = 5.0
"""Seconds a component may take to stop cleanly after SIGTERM/SIGINT."""


# -- shared plumbing ---------------------------------------------------------------------------------


def serve_until_signalled(component: str, serve: Serve, metrics_port: int | None = None,
                          settings: core_settings.Settings = core_settings.DEFAULTS) -> None:
    """Run a component's `serve(stop)` on uvloop (when available); SIGTERM/SIGINT set `stop`.

    A clean stop gets STOP_GRACE seconds. Past that the process exits anyway: a shutdown stuck on an
    unreachable NATS (`bosun up` stopping the whole group at once) must not hold up the machine, and
    every component is crash-safe by design.

    Every component also gets structured logs, OpenTelemetry (`OTEL_*` variables; no export by default)
    and, with `--metrics-port`, a Prometheus endpoint; `settings` are the environment read at its entry.
    """
    from core import collector, metrics, tracing

    os.umask(0o077)  # every file a component creates (databases, logs, state) is private to its user
    logs.configure(component, settings.log_level, settings.log_format)
    tracing.setup(component, settings)
    metrics.serve_http(metrics_port)
    collector.tune()  # after start-up's allocations: they are frozen, never walked again

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not stop.is_set():
                stop.set()
                loop.call_later(STOP_GRACE, _exit_now)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        log.info("component starting")
        await serve(stop)
        if not stop.is_set():
            raise click.ClickException(f"{component} stopped on its own")
        log.info("component stopped")

    try:
        with asyncio.Runner(loop_factory=loops.factory()) as runner:
            runner.run(main())
    finally:
        tracing.shutdown()


def _exit_now() -> None:
    log.warning("component did not stop in time; exiting", grace=STOP_GRACE)
    sys.stderr.flush()
    os._exit(1)


def as_component(nats_url: str, key: str, env: core_settings.Settings) -> str:
    """`nats_url` with the credentials of component `key` from the file `BOSUN_NATS_CREDENTIALS` names
    (`core.natscreds`): a path in the environment, never a password (replicas inherit it)."""
    from core import natscreds

    return natscreds.url_for(nats_url, key, env.nats_credentials)


def nats_option(required: bool = True) -> Callable[[F], F]:
    """`--nats`, else BOSUN_NATS_URL (`core.settings`); missing when `required` and neither is given."""

    def with_env(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        value = value or environment().nats_url
        if required and not value:
            raise click.MissingParameter(ctx=ctx, param=param)
        return value

    return click.option("--nats", "nats_url", callback=with_env, metavar="URL",
                        help="NATS URL, or several comma-separated (env BOSUN_NATS_URL)"
                             + ("  [required]" if required else "."))


data_option = click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="Bosun's data directory [default: `bosun --data`, else ./.bosun].")


def data_dir(data: Path | None) -> Path:
    """This command's --data, else the one given to the `bosun` group or a parent command, else BOSUN_DATA,
    else ./.bosun."""
    ctx: click.Context | None = click.get_current_context()
    while data is None and ctx is not None:
        data = ctx.params.get("data")
        ctx = ctx.parent
    return Path(data) if data is not None else Path(environment().data)


node_timeout_option = click.option(
    "--node-timeout", type=click.FloatRange(min=1, max=3600), default=10.0, show_default=True, metavar="S",
    help="A node whose heartbeat is this many seconds late is NotReady (the node lifecycle controller).")
eviction_timeout_option = click.option(
    "--eviction-timeout", type=click.FloatRange(min=0, max=86_400), default=None, metavar="S",
    help="A node NotReady this many seconds loses its replicas: declared lost (NodeLost) and replaced on other "
         "nodes [default: BOSUN_EVICTION_TIMEOUT, else 30].")
metrics_option = click.option("--metrics-port", type=int, default=None,
                              help="Serve Prometheus metrics at http://0.0.0.0:PORT/metrics (0: any free port).")


def db_dir_option(f: F) -> F:
    return click.option("--db-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Read-model directory [default: <data>/projections].")(f)


# -- bosun up ----------------------------------------------------------------------------------------


@click.command()
@data_option
@click.option("--http-host", default="127.0.0.1", show_default=True)
@click.option("--http-port", type=int, default=8080, show_default=True, help="0: pick a free port.")
@click.option("--nats-port", type=int, default=4222, show_default=True, help="0: pick a free port.")
@click.option("--nats-host", default="127.0.0.1", show_default=True,
              help="Where the embedded nats-server listens: 0.0.0.0 lets other machines' agents join "
                   "(docs/nodes.md; every connection still needs a password or a Bosun token).")
@click.option("--nats", "nats_url", default=None, metavar="URL",
              help="Use this NATS instead of the embedded server.")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Policy YAML (principals, roles, bindings, quotas) the gateway applies on start.")
@click.option("--latency", type=float, default=None, help="Sim driver replica start-up latency (s).")
@click.option("--seed", type=int, default=None, help="Sim driver fault-injection seed.")
@click.option("--sync", default="", callback=lambda _c, _p, v: _sync_policy(v), metavar="always|INTERVAL",
              help="JetStream fsync: `always` (every write; slower) or an interval such as 1s "
                   "[default: the server's 2m; see docs/cluster.md on what that loses on power failure].")
@click.option("--cluster", "cluster_size", type=click.IntRange(1, 7), default=1, show_default=True,
              help="Embedded nats-servers: 3 runs a loopback JetStream cluster with R3 (try killing a node).")
@click.option("--controllers", "hosts", type=click.IntRange(1, 8), default=None,
              help="Controller hosts sharing the partitions, each supervised (kill -9 one: another takes "
                   "over) [default: 2 with --cluster, else 1].")
@click.option("--keep-replicas", is_flag=True,
              help="On exit, leave the process replicas it started running (the next `bosun up` adopts them).")
@click.option("--retain", default=None, metavar="DURATION", callback=duration,
              help="Archive messages older than this (e.g. 30d; BOSUN_RETAIN) and let them leave the stream; "
                   "history stays whole [default: keep everything in the stream].")
@node_timeout_option
@eviction_timeout_option
@click.option("--node-name", default=None, metavar="NAME",
              help="This machine's node (an agent joined with its own credential runs it) [default: the host "
                   "name's first label].")
@click.option("--gpus", default="auto", show_default=True, metavar="auto|N|ID,…",
              help="The local node's GPUs: auto (NVML; none without it), N (devices 0..N-1) or the ids.")
@click.option("--node-labels", default="", metavar="k=v,…", help="The local node's labels.")
@click.option("--no-node", is_flag=True, help="Run no agent for this machine (no local node).")
@click.option("--sim-nodes", type=click.IntRange(0, 99_999), default=0, show_default=True, metavar="N",
              help="Simulated nodes sim-0001... (labels sim=true, zone=zone-a..d), joined, beating and running "
                   "their replicas in one process: pools of `driver: node` schedule onto them.")
@click.option("--sim-node-gpus", type=click.IntRange(0, 1024), default=8, show_default=True, metavar="G",
              help="GPUs of each simulated node.")
def up(data: Path | None, http_host: str, http_port: int, nats_port: int, nats_host: str, nats_url: str | None,
       policy: Path | None, latency: float | None, seed: int | None, sync: str, cluster_size: int,
       hosts: int | None, keep_replicas: bool, retain: str | None, node_timeout: float,
       eviction_timeout: float | None, node_name: str | None, gpus: str, node_labels: str, no_node: bool,
       sim_nodes: int, sim_node_gpus: int) -> None:
    """Run everything on this machine: nats-server, controller, sim and process drivers, projector, gateway,
    and this machine's node agent."""
    from supervisor.tree import Supervisor, UpConfig, UpError

    node = "" if no_node else _local_node(node_name, gpus, node_labels)

    env = environment()
    if retain:
        env = replace(env, retain=retain)
    if eviction_timeout is not None:  # the controllers read it from their environment
        env = replace(env, eviction_timeout=eviction_timeout)
    logs.configure("up", env.log_level, env.log_format)
    from actors.registry import sources
    from actors.scope import groups

    cfg = UpConfig(data=data_dir(data), http_host=http_host, http_port=http_port, nats_port=nats_port,
                   nats_host=nats_host, nats_url=nats_url, policy=policy.resolve() if policy else None,
                   latency=latency, seed=seed,
                   sync=sync, cluster=cluster_size, controllers=tuple(groups(sources())), hosts=hosts or 0,
                   keep_replicas=keep_replicas, node_timeout=node_timeout, node=node, gpus=gpus,
                   node_labels=node_labels, sim_nodes=sim_nodes, sim_node_gpus=sim_node_gpus)
    if sim_nodes and nats_url:
        raise click.UsageError("--sim-nodes needs the embedded NATS (its user is written into its config)")
    try:
        sys.exit(Supervisor(cfg, env).run())
    except UpError as e:
        raise click.ClickException(str(e)) from e


def _local_node(name: str | None, gpus: str, labels: str) -> str:
    """The local node's name (checked, as `--gpus` and `--node-labels` are, before anything starts)."""
    import socket

    import msgspec

    from core import nodes
    from dataplane.agent import gpus as discovery
    from supervisor.localnode import node_name

    chosen = name if name is not None else node_name(socket.gethostname())
    try:
        msgspec.convert(chosen, nodes.NodeName)
    except msgspec.ValidationError:
        raise click.BadParameter(f"a node name is a DNS label of at most {nodes.MAX_NAME} characters, got "
                                 f"{chosen!r}", param_hint="--node-name") from None
    try:
        nodes.parse_labels(labels)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--node-labels") from e
    if gpus.strip() != "auto":
        try:
            discovery.declared(gpus)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--gpus") from e
    return chosen


def _sync_policy(value: str) -> str:
    """`always`, or a Go duration nats-server accepts (`100ms`, `1s`, `2m`)."""
    import re

    if value and value != "always" and not re.fullmatch(r"\d+(ms|s|m|h)", value):
        raise click.BadParameter("expected `always` or an interval such as 100ms, 1s, 2m", param_hint="--sync")
    return value


# -- components --------------------------------------------------------------------------------------


@click.command()
@nats_option()
@data_option
@click.option("--partitions", type=int, default=16, show_default=True)
@click.option("--host-id", default=None,
              help="This host's id for partition leases [default: BOSUN_HOST_ID, else the hostname].")
@click.option("--kinds", default="", metavar="K1,K2",
              help="Run only these kinds' actors (own consumer, leases, checkpoints) [default: all].")
@click.option("--without-kinds", "without", default="", metavar="K1,K2",
              help="Run every kind's actors but these (they run in controllers of their own).")
@click.option("--inflight", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="In-flight step file [default: <data>/run/controller-<kinds or main>.inflight].")
@node_timeout_option
@eviction_timeout_option
@metrics_option
def controller(nats_url: str, data: Path | None, partitions: int, host_id: str | None, kinds: str, without: str,
               inflight: Path | None, node_timeout: float, eviction_timeout: float | None,
               metrics_port: int | None) -> None:
    """Run a controller host (the actors); the main one (no --kinds) also runs the node lifecycle controller."""
    from actors import serving
    from actors.node import lifecycle
    from actors.scope import scope_of

    only = tuple(k.strip() for k in kinds.split(",") if k.strip())
    but = tuple(k.strip() for k in without.split(",") if k.strip())
    name = "-".join(filter(None, ("controller", scope_of(only) or "main", host_id)))
    inflight = inflight or data_dir(data).resolve() / "run" / f"{name}.inflight"
    env = environment()
    nats_url = as_component(nats_url, "controller", env)

    async def serve(stop: asyncio.Event) -> None:
        ledgers = lifecycle.Ledgers()
        host = serving.serve(nats_url, stop=stop, partitions=partitions, host_id=host_id, kinds=only, without=but,
                             inflight=inflight, settings=env, on_host=None if only else ledgers.attach)
        if only:
            await host
            return
        eviction = env.eviction_timeout if eviction_timeout is None else eviction_timeout
        nodes = asyncio.create_task(lifecycle.serve(nats_url, stop=stop, timeout=node_timeout, eviction=eviction,
                                                    ledgers=ledgers, replicas=env.stream_replicas))
        try:
            await host
        finally:
            nodes.cancel()
            await asyncio.wait({nodes})

    serve_until_signalled("controller", serve, metrics_port, env)


@click.command()
@nats_option()
@data_option
@db_dir_option
@click.option("--durable", default=lambda: environment().projector_durable,
              show_default="BOSUN_PROJECTOR_DURABLE, else projector",
              help="Its consumer's name: one per read model (a second gateway/projector pair needs its own).")
@metrics_option
def projector(nats_url: str, data: Path | None, db_dir: Path | None, durable: str, metrics_port: int | None) -> None:
    """Run the projector (log -> SQLite read models)."""
    from projections import projector as proj

    db = db_dir or data_dir(data) / "projections"
    env = environment()
    nats_url = as_component(nats_url, "projector", env)
    serve_until_signalled("projector", lambda stop: proj.serve(nats_url, db, stop=stop, durable=durable, settings=env),
                          metrics_port, env)


@click.command()
@nats_option()
@data_option
@db_dir_option
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Admin token file, created if missing [default: <data>/admin.token].")
@click.option("--http-host", default="127.0.0.1", show_default=True)
@click.option("--http-port", type=int, default=8080, show_default=True)
@click.option("--fd", type=int, default=None, help="Serve on this inherited listening socket (from `bosun up`).")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Policy YAML (principals, roles, bindings, quotas) applied idempotently on start.")
@click.option("--intents-nats", "intents_url", default=lambda: environment().nats_intents_url, metavar="URL",
              help="NATS URL of the user answering intents (env BOSUN_NATS_INTENTS_URL) [default: --nats].")
@click.option("--intent-reply-prefix", "reply_prefix", default=lambda: environment().intent_reply_prefix,
              show_default="BOSUN_INTENT_REPLY_PREFIX, else _INBOX",
              help="Inbox prefix intent replies may go to.")
@metrics_option
def gateway(nats_url: str, data: Path | None, db_dir: Path | None, token_file: Path | None, http_host: str,
            http_port: int, fd: int | None, policy: Path | None, intents_url: str | None, reply_prefix: str,
            metrics_port: int | None) -> None:
    """Run the gateway (HTTP API and NATS intents)."""
    from gateway import server
    from supervisor.launch import ensure_admin_token

    db = db_dir or data_dir(data) / "projections"
    token = token_file or data_dir(data) / "admin.token"
    if ensure_admin_token(token):
        log.info("admin token created", path=str(token.resolve()))
    env = environment()
    door = _gateway_door(nats_url, intents_url, env)
    nats_url = as_component(nats_url, "gateway", env)
    serve_until_signalled("gateway", lambda stop: server.serve(nats_url, db, stop=stop, token_file=token,
                                                               host=http_host, port=http_port, fd=fd,
                                                               policy=policy, intents_url=door.intents,
                                                               reply_prefix=reply_prefix, system_url=door.system,
                                                               callout_seed=door.seed, settings=env),
                          metrics_port, env)


class _Door(NamedTuple):
    intents: str | None
    system: str | None
    seed: str | None


def _gateway_door(nats_url: str, intents_url: str | None, env: core_settings.Settings) -> _Door:
    """The gateway's door connections and the callout's key, from the credentials file when there is one
    (`--intents-nats` still wins for the intents)."""
    from core import natscreds

    path = env.nats_credentials
    if not path:
        return _Door(intents_url, None, None)
    creds = natscreds.Credentials.load(Path(path))
    door = creds.users.get("door")
    system = creds.users.get("system")
    return _Door(intents_url or (natscreds.with_user(nats_url, door) if door else None),
                 natscreds.with_user(nats_url, system) if system else None, creds.issuer_seed or None)


@click.command("nats-env")
def nats_env() -> None:
    """Print fresh NATS credentials as a compose `.env` (one password per component, the route's, the
    auth callout's key pair): `bosun nats-env > .env`."""
    from core import natscreds

    for name, value in natscreds.compose_env(natscreds.fresh()).items():
        click.echo(f"{name}={value}")


COMMANDS = (up, controller, projector, gateway, nats_env)
"""The process commands of the `bosun` group."""
