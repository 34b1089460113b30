"""`bosun up`: one supervised process tree — the embedded nats-server plus the four components.

Why separate processes rather than one event loop: a crash, a leak or a blocking call in one component
must not take the others down, and each piece is exactly what runs on its own against a NATS cluster
(`bosun controller`, ...). The supervisor owns what must outlive its children: the NATS credentials
(each component is told the credentials file's path and picks its own user: no password in any
environment or argv, so none shows in `ps` or reaches a replica), the admin token, and the
gateway's listening socket (bound here, passed by fd, so the URL is known before the gateway starts and
survives its restarts). It restarts any child that dies, with backoff, and guarantees no orphans:
children die with it (PR_SET_PDEATHSIG) and a restarted supervisor kills leftovers of a crashed run.
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import structlog
from msgspec.structs import replace

from core import cluster, natscreds, natsserver, natsusers
from core.settings import DEFAULTS, Settings
from supervisor import localnode, procs, simnodes, status, stuck
from supervisor.children import Child, controller_children, exited, rearmed
from supervisor.launch import (
    bosun_command,
    ensure_admin_token,
    healthy,
    http_url,
    private_data_dir,
    write_private_json,
)

NATS_PIDFILE = "nats"

log = structlog.get_logger("bosun.up")


class UpError(Exception):
    """`bosun up` cannot start (already running, port taken, nats-server failed)."""


@dataclass(frozen=True)
class UpConfig:
    data: Path
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    nats_port: int = 4222
    nats_host: str = "127.0.0.1"
    """`--nats-host`: where the embedded server listens (0.0.0.0: other machines' agents may connect)."""
    nats_url: str | None = None
    """An external NATS to use instead of the embedded server."""
    policy: Path | None = None
    """Policy YAML handed to the gateway child (`bosun gateway --policy`), applied on each start."""
    latency: float | None = None
    seed: int | None = None
    sync: str = ""
    """JetStream's fsync policy (`always` or an interval); empty: the server's default (2 min)."""
    cluster: int = 1
    """Embedded nats-servers: more than 1 runs a loopback cluster (`core.cluster`) with R3 (`--cluster 3`)."""
    controllers: tuple[tuple[str, ...], ...] = ()
    """Kinds that get a controller process of their own (BOSUN_KINDS modules): one kind's reconciler
    cannot stall another's. The main controller runs every other kind."""
    hosts: int = 0
    """Controller hosts per scope, sharing its partitions (`--controllers`); 0: 2 on a cluster, else 1."""
    keep_replicas: bool = False
    """`--keep-replicas`: the process driver leaves its replicas running when `bosun up` stops."""
    node_timeout: float = 10.0
    """`--node-timeout`: a node whose heartbeat is this late is NotReady (the main controllers' lifecycle)."""
    node: str = ""
    """`--node-name`: this machine's node, run by an agent of its own (`localnode`); empty: no agent."""
    gpus: str = "auto"
    """`--gpus`: the local node's GPUs (`auto`: NVML's, none without it; N; or ids)."""
    node_labels: str = ""
    """`--node-labels`: the local node's labels (k=v,…)."""
    sim_nodes: int = 0  # `--sim-nodes N`: simulated nodes, all served by one component (`simnodes`)
    sim_node_gpus: int = 8


def bind_listener(host: str, port: int) -> socket.socket:
    """The gateway's listening socket (port 0: the kernel picks one)."""
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as e:
        raise UpError(f"cannot listen on {host}:{port}: {e.strerror}") from e


class Supervisor:
    def __init__(self, cfg: UpConfig, settings: Settings = DEFAULTS) -> None:
        self.cfg = cfg
        self.settings = settings
        """Read at `bosun up`'s entry; the children's environment is rendered from it (`Settings.environment`)."""
        self.data = cfg.data.resolve()
        self.run_dir = self.data / "run"
        self.token_file = self.data / "admin.token"
        self.conn_file = self.data / "connection.json"
        self.creds_file = self.data / "nats-credentials.json"
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.children: list[Child] = []
        self.nats: natsserver.Server | None = None
        self.cluster: cluster.Cluster | None = None
        self.nats_child = Child("nats-server", [])
        self.creds: natscreds.Credentials | None = None
        self.listener: socket.socket | None = None
        self.lock: IO[str] | None = None
        """Held (flock) for our whole life: the kernel drops it even on kill -9."""
        self.env: dict[str, str] = {}
        self.announced = False
        self.exits: dict[str, tuple[int | None, float, int]] = {}
        """Per child: last exit code, when (wall clock), restarts so far (`run/components.json`)."""

    def run(self) -> int:
        """Start everything, supervise until SIGTERM/SIGINT, stop everything; the exit code."""
        t0 = time.monotonic()
        self._install_signals()
        try:
            self._prepare()
            self.listener = bind_listener(self.cfg.http_host, self.cfg.http_port)  # fail fast if taken
            internal = self._start_nats()
            self._spawn_all(internal)
            self._supervise(t0)
        finally:
            self._shutdown()
        return 0

    # -- startup -----------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            self.stopping.set()
            self.wake.set()

        def child_exited(_signum: int, _frame: FrameType | None) -> None:
            self.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGCHLD, child_exited)

    def _prepare(self) -> None:
        """Single instance per data dir, no leftovers of a crashed run, token and credentials in place."""
        private_data_dir(self.data)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.run_dir / "up.lock", "w")  # noqa: SIM115 - held until shutdown
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            lock.close()
            raise UpError(f"bosun up is already running for {self.data}") from e
        self.lock = lock
        self.conn_file.unlink(missing_ok=True)
        killed = procs.kill_leftovers(self.run_dir, str(self.data), skip=(NATS_PIDFILE,))
        if killed:
            log.warning("killed leftovers of a previous run", pids=killed)
        natsserver.stop_leftover(self.data)
        procs.write_pidfile(self.run_dir, "up", os.getpid())
        if ensure_admin_token(self.token_file):
            log.info("admin token created", path=str(self.token_file))

    def _start_nats(self) -> str:
        """The embedded nats-server (unless --nats); returns the URL components connect with."""
        if self.cfg.nats_url:
            return self.cfg.nats_url
        self.creds = natscreds.Credentials.load_or_create(self.creds_file, simnodes.roles(self.cfg.sim_nodes))
        if self.cfg.cluster > 1:
            self.cluster = cluster.start_local(self.data, self.cfg.cluster, self.creds, self.cfg.sync,
                                               procs.die_with_parent(signal.SIGTERM), self.settings.nats_server)
            self.settings = replace(self.settings, stream_replicas=min(3, self.cfg.cluster))
            return self.cluster.url()
        try:
            self.nats = natsserver.start(self.data, port=self.cfg.nats_port, creds=self.creds,
                                         preexec=procs.die_with_parent(signal.SIGTERM), sync=self.cfg.sync,
                                         executable=self.settings.nats_server, host=self.cfg.nats_host)
        except RuntimeError as e:
            raise UpError(str(e)) from e
        self.nats_child.started = time.monotonic()
        log.info("nats-server started", pid=self.nats.proc.pid, port=self.nats.port,
                 store=str(self.data / "nats"))
        return self.nats.url()

    def _spawn_all(self, nats_url: str) -> None:
        assert self.listener is not None
        data = str(self.data)
        db_dir = str(self.data / "projections")
        fd = self.listener.fileno()
        sim = ["driver", "sim", "--data", data]
        if self.cfg.latency is not None:
            sim += ["--latency", str(self.cfg.latency)]
        if self.cfg.seed is not None:
            sim += ["--seed", str(self.cfg.seed)]
        self.children = [  # the gateway first: it is on the path to "healthy"
            Child("gateway", ["gateway", "--data", data, "--db-dir", db_dir,
                              "--token-file", str(self.token_file), "--fd", str(fd),
                              *(["--policy", str(self.cfg.policy)] if self.cfg.policy else [])],
                  pass_fds=(fd,)),
            *controller_children(data, self.cfg.controllers, self.cfg.hosts or (2 if self.cfg.cluster > 1 else 1),
                                 self.cfg.node_timeout),
            Child("projector", ["projector", "--data", data, "--db-dir", db_dir]),
            Child("driver-sim", sim),
            Child("driver-process", ["driver", "process", "--data", data,
                                     *([] if self.cfg.keep_replicas else ["--stop-replicas-on-exit"])],
                  env=self._secretless(nats_url)),
            *([Child("archiver", ["archiver"])] if self.settings.retain else []),
            *self._local_node(),
            *simnodes.children(data, self.cfg.sim_nodes, self.cfg.sim_node_gpus, self.cfg.latency, self.cfg.seed),
        ]
        if self.creds is not None:
            self.settings = replace(self.settings, nats_credentials=str(self.creds_file))
        self.env = self.settings.environment(BOSUN_NATS_URL=nats_url, PYTHONUNBUFFERED="1")
        for child in self.children:
            if not child.held:
                self._spawn(child)

    def _local_node(self) -> list[Child]:
        """This machine's join (once the gateway answers) and agent (once joined); none without `--node-name`."""
        if not self.cfg.node:
            return []
        assert self.listener is not None
        localnode.join_file(self.data).parent.mkdir(parents=True, exist_ok=True)
        return localnode.children(self.data, self.cfg.node, self.cfg.gpus, self.cfg.node_labels,
                                  self.cfg.keep_replicas, http_url(self.cfg.http_host, self.listener.getsockname()[1]),
                                  self.token_file)

    def _release(self, after: str) -> None:
        """Start the held children waiting for `after` ("" : the announce)."""
        for child in self.children:
            if child.held and child.after == after and child.proc is None:
                child.held = False
                self._spawn(child)

    def _secretless(self, nats_url: str) -> dict[str, str]:
        """The process driver's own variables: an external NATS URL's user and password (`--nats`) moved into a
        private credentials file of its own, so that, like with the embedded server's users, it keeps no secret
        in its environment or argv (its replicas are its children)."""
        user = natscreds.userinfo(nats_url)
        if self.creds is not None or user is None:
            return {}
        path = self.run_dir / "driver-nats-credentials.json"
        natscreds.write_private(path, {"driver": {"user": user.user, "password": user.password}})
        return {"BOSUN_NATS_URL": natscreds.without_userinfo(nats_url), "BOSUN_NATS_CREDENTIALS": str(path)}

    def _spawn(self, child: Child) -> None:
        try:
            base = localnode.agent_environment(self.env) if child.secretless else self.env
            # A one-shot's output goes to its own file (the join's hint is for an admin at a terminal, not here).
            out = open(self.run_dir / f"{child.name}.log", "ab") if child.once else None  # noqa: SIM115
            try:
                child.proc = subprocess.Popen([*bosun_command(), *child.args], env={**base, **child.env},
                                              stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                              pass_fds=child.pass_fds,
                                              preexec_fn=procs.die_with_parent())  # main thread only
            finally:
                if out is not None:
                    out.close()
        except OSError as e:
            log.error("component failed to start", component=child.name, error=str(e))
            child.restart_at = time.monotonic() + child.backoff(time.monotonic())
            return
        child.started, child.restart_at = time.monotonic(), None
        if not child.once:  # a one-shot (the join) is no component to kill, and a leftover of it is harmless
            procs.write_pidfile(self.run_dir, child.name, child.proc.pid)
        log.info("component started", component=child.name, pid=child.proc.pid)
        status.write(self.run_dir, self.children, self.exits)

    # -- supervision -------------------------------------------------------------------------------

    def _supervise(self, t0: float) -> None:
        assert self.listener is not None
        url = http_url(self.cfg.http_host, self.listener.getsockname()[1])
        while not self.stopping.is_set():
            self.wake.clear()
            next_due = self._tend()
            if not self.announced and healthy(url):
                self._announce(url, time.monotonic() - t0)
            idle = 0.5 if self.announced else 0.05
            self.wake.wait(max(0.0, min(idle, next_due - time.monotonic())))

    def _tend(self) -> float:
        """Notice dead children, restart those whose backoff is over; when something is next due."""
        now = time.monotonic()
        due = now + 3600
        if self.nats is not None:
            due = min(due, self._tend_nats(now))
        if self.cluster is not None and not self.stopping.is_set():
            cluster.restart_dead(self.cluster)
        for child in self.children:
            if child.inflight is not None and child.proc is not None and child.proc.poll() is None:
                since = time.time() - (now - child.started)  # the process's start, on the wall clock
                held = stuck.stuck(child.inflight, self.settings.step_kill_after, since=since)
                if held is not None:
                    log.error("controller stuck in one step; killing it", component=child.name, **held)
                    child.proc.kill()
                    child.proc.wait()
            if child.once and child.proc is not None and child.proc.poll() == 0:
                log.info("component done", component=child.name, pid=child.proc.pid)
                child.proc, child.held, child.done = None, True, True
                procs.remove_pidfile(self.run_dir, child.name)
                self._release(child.name)
                status.write(self.run_dir, self.children, self.exits)
                continue
            if child.stopped and rearmed(child) and not self.stopping.is_set():
                self._spawn(child)
            if child.proc is not None and child.proc.poll() is not None:
                exited(child, now, self.exits, self.run_dir / f"{child.name}.log")
                status.write(self.run_dir, self.children, self.exits)
            if child.proc is None and child.restart_at is not None:
                if now >= child.restart_at and not self.stopping.is_set():
                    self._spawn(child)
                else:
                    due = min(due, child.restart_at)
        return due

    def _tend_nats(self, now: float) -> float:
        """Restart a dead nats-server on the same port so components' URLs stay valid."""
        assert self.nats is not None and self.creds is not None
        c = self.nats_child
        if c.restart_at is None and self.nats.proc.poll() is not None:
            delay = c.backoff(now)
            log.warning("nats-server exited; restarting", code=self.nats.proc.returncode, restart_in=delay)
            c.restart_at = now + delay
        if c.restart_at is None:
            return now + 3600
        if now < c.restart_at or self.stopping.is_set():
            return c.restart_at
        try:
            self.nats = natsserver.start(self.data, port=self.nats.port, creds=self.creds,
                                         preexec=procs.die_with_parent(signal.SIGTERM), sync=self.cfg.sync,
                                         executable=self.settings.nats_server, host=self.cfg.nats_host)
            c.started, c.restart_at = time.monotonic(), None
            log.info("nats-server restarted", pid=self.nats.proc.pid, port=self.nats.port)
        except RuntimeError as e:
            c.restart_at = time.monotonic() + c.backoff(time.monotonic())
            log.error("nats-server restart failed", error=str(e), retry_in=c.restart_at - time.monotonic())
        return now

    def _announce(self, url: str, elapsed: float) -> None:
        """Publish where everything is, once the gateway answers /healthz."""
        if self.nats is not None:
            client_nats = self.nats.url()
        elif self.cluster is not None:
            client_nats = self.cluster.url()
        else:
            client_nats = natscreds.without_password(self.cfg.nats_url or "")
        # Clients connect with their token (no shared password): the admin token's principal's inbox.
        admin = natsusers.client_inbox(natsusers.ADMIN_PRINCIPAL)
        inbox = admin if self.creds is not None else natsserver.DEFAULT_INBOX
        write_private_json(self.conn_file, {"http": url, "nats": client_nats, "natsInboxPrefix": inbox,
                                            "tokenFile": str(self.token_file),
                                            # what `bosun node join` writes into join files: a cut-off agent's
                                            # clock before it stops its replicas (dataplane.agent.cutoff)
                                            "nodeTimeout": self.cfg.node_timeout,
                                            "evictionTimeout": self.settings.eviction_timeout})
        self.announced = True
        self._release("")
        simnodes.start_declaring(url, self.token_file, self.cfg.sim_nodes, self.stopping)
        log.info("bosun is up", seconds=round(elapsed, 3), http=url, nats=client_nats)
        print(f"bosun is up in {elapsed:.2f}s\n"
              f"  gateway:     {url}\n"
              f"  dashboard:   {url}/ui/\n"
              f"  nats:        {client_nats}  (connect with your token, inbox {inbox})\n"
              f"  admin token: {self.token_file}\n", flush=True)

    # -- shutdown ----------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Components first (they may flush through NATS), then nats-server; leave no pidfiles behind."""
        self.stopping.set()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # The local node's agent first: it says it leaves through the gateway, which must still answer.
        procs.terminate([c.proc for c in self.children if c.proc is not None and c.name == localnode.AGENT])
        procs.terminate([c.proc for c in self.children if c.proc is not None])
        for child in self.children:
            procs.remove_pidfile(self.run_dir, child.name)
        if self.nats is not None:
            self.nats.stop()
            procs.remove_pidfile(self.run_dir, NATS_PIDFILE)
            log.info("nats-server stopped")
        if self.cluster is not None:
            self.cluster.stop()
            log.info("nats cluster stopped")
        if self.listener is not None:
            self.listener.close()
        if self.announced:
            self.conn_file.unlink(missing_ok=True)
        if self.lock is not None:
            procs.remove_pidfile(self.run_dir, "up")
            self.lock.close()
        log.info("bosun stopped")
