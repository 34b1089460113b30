"""The `process` driver's shell: replicas as real OS processes on this machine.

Commands (`bosun.cmd.process.>`) change the durable records (`world.py`); a monitor loop does the OS
work: spawns pending replicas, notices exits, runs readiness probes, escalates SIGTERM to SIGKILL after
the grace period. Replicas outlive the driver (they lead their own sessions): a restarted driver
re-lists them from the records (pid + start time) and by their environment marker, adopts what it
recorded and stops anything it did not, so a kill -9 anywhere never double-starts or orphans a replica.
Each replica runs fenced in (`fence.py`): its own user when the driver is root, its own directory, a
clean environment. Asked to (`--stop-replicas-on-exit`: what `bosun up` runs it with), a driver told to stop
stops its replicas first, so a Ctrl-C on `bosun up` leaves no process of it behind.
"""
from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import nats.errors
import structlog
from nats.js import api

from core import dropped, ports, ready, subjects
from core import log as corelog
from core.feed import Delivery, Feed, ensure_consumer
from core.logtail import TailRequest
from core.metrics import COMMANDS, observe_consumer, sample_every
from core.names import Ref
from core.replicas import EnsurePool, RetirePool, StartReplica, StopReplica
from core.settings import DEFAULTS, Settings
from dataplane.base import logtail
from dataplane.base.ledger import Cause
from dataplane.base.outbox import Outbox
from dataplane.base.shell import cancel_all, cause_of, command_of, retrying, trace_headers
from dataplane.process import fence as fencing
from dataplane.process import probes, procs, store
from dataplane.process.fence import Fence, FenceError
from dataplane.process.load import LoadMeter
from dataplane.process.world import Record, World

DRIVER = "process"
CONSUMER = "driver-process"
FETCH_BATCH = 128
TICK = 0.25
ACK_WAIT = 10.0
EXIT_GRACE = 3.0
"""Seconds replicas get to exit on SIGTERM when the driver stops them on its way out (then SIGKILL): inside
the component's own stop grace (`cli.components.STOP_GRACE`)."""

logger = structlog.get_logger()


async def serve(nats_url: str, data_dir: Path, *, stop: asyncio.Event, relist_interval: float = 2.0,
                load_interval: float = 2.0, settings: Settings = DEFAULTS, fence: Fence | None = None,
                stop_replicas: bool = False) -> None:
    """Run the process driver until `stop` is set; its records and replica logs live in `<data_dir>/process`,
    its replicas run fenced as `fence` says (default: `fence.default`). `settings` are what the command read
    at its entry. `stop_replicas`: then stop every replica it runs (a later start finds them gone and reports
    it)."""
    world = World(store.connect(data_dir))
    fenced = fence or fencing.default(Path(data_dir))
    if not fenced.drop:
        logger.warning("not root: replicas run as the driver's own user (see docs/security.md)")
    try:
        nc = await corelog.connect(nats_url, "bosun-driver-process")
        try:
            log = corelog.Log(nc)
            await ready.ensure(log, stop)  # waits for the gateway to create the stream
            driver = Driver(world, log, Path(data_dir), relist_interval, load_interval, fenced)
            try:
                await driver.run(stop)
            finally:
                if stop_replicas and stop.is_set():
                    await driver.stop_replicas(EXIT_GRACE)
        finally:
            await nc.close()
    finally:
        world.conn.close()


class Driver:
    def __init__(self, world: World, log: corelog.Log, data_dir: Path, relist_interval: float,
                 load_interval: float, fence: Fence | None = None) -> None:
        self.world = world
        self.fence = fence or fencing.default(data_dir)
        self.log = log
        self.data_dir = data_dir
        self.mark = str(store.home(data_dir))
        self.outbox = Outbox(world.conn, log)
        self.relist_interval = relist_interval
        self.children: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        """Processes this incarnation spawned (reaped through Popen); adopted ones are watched in /proc."""
        self.probed: dict[tuple[str, str], tuple[float, int]] = {}
        """Replica -> (next probe time, consecutive failures)."""
        self.killed: set[tuple[str, str]] = set()
        self.causes: dict[tuple[str, str], Cause] = {}
        self.wake = asyncio.Event()
        self.http = httpx.AsyncClient(timeout=1.0)
        self.meter = LoadMeter(self.http, world, self.outbox, load_interval)
        self.feed: Feed
        self.extra_env: dict[str, str] = {}
        """Variables every replica gets besides Bosun's own (an agent's: BOSUN_NODE)."""

    async def run(self, stop: asyncio.Event) -> None:
        await retrying("resend outbox", self.outbox.flush)
        self.recover(time.time())
        await retrying("report recovery", self.outbox.flush)
        await ensure_consumer(self.log.jsm, self.log.stream, api.ConsumerConfig(
            durable_name=CONSUMER, name=CONSUMER, filter_subject=subjects.driver_commands(DRIVER),
            ack_policy=api.AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_ack_pending=FETCH_BATCH * 4))
        self.feed = feed = dropped.watch_feed(Feed(self.log.nc, self.log.stream, CONSUMER, batch=FETCH_BATCH))
        await feed.start()
        tails = await logtail.serve(self.log.nc, DRIVER, self._log_of)
        loops = [asyncio.create_task(self._commands(feed), name="process-commands"),
                 asyncio.create_task(self._monitor(), name="process-monitor"),
                 asyncio.create_task(self._relist(), name="process-relist"),
                 asyncio.create_task(self.meter.run(), name="process-load"),
                 asyncio.create_task(sample_every(5.0, self._sample, stop), name="process-metrics")]
        stopper = asyncio.create_task(stop.wait(), name="process-stop")
        try:
            done, _ = await asyncio.wait([*loops, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()
        finally:
            await cancel_all([*loops, stopper])
            with contextlib.suppress(nats.errors.Error):
                await tails.unsubscribe()
            await feed.stop()
            await self.http.aclose()

    async def stop_replicas(self, grace: float) -> None:
        """SIGTERM every replica process of this driver, SIGKILL what still runs after `grace` seconds."""
        running = list(procs.scan(self.mark))
        for found in running:
            procs.signal_group(found.identity, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline and any(self._alive(found.identity) for found in running):
            await asyncio.sleep(0.05)
        for found in running:
            if self._alive(found.identity):
                procs.signal_group(found.identity, signal.SIGKILL)
        for child in self.children.values():
            child.poll()
        for found in running:  # their directories go with them (a restart would clear them too, if it came)
            token, _, rest = found.record.partition("/")
            with contextlib.suppress(ValueError):
                ref = Ref.parse(token)
                self.fence.clear(ref.namespace, ref.name, rest.partition("/")[0])
        logger.info("replicas stopped on exit", count=len(running))

    def _alive(self, who: procs.Identity) -> bool:
        for child in self.children.values():  # reap our own, or they linger as zombies
            if child.pid == who.pid:
                child.poll()
        return procs.alive(who)

    def _log_of(self, asked: TailRequest) -> Path:
        """A replica's own stdout/stderr file (the log tail's only source)."""
        return store.log_file(self.data_dir, f"{asked.kind}.{asked.namespace}.{asked.name}", asked.replica)

    # ---- recovery and re-list ------------------------------------------------------------------------

    def recover(self, now: float) -> None:
        """After a (re)start: adopt what the records say runs, finish what died meanwhile, stop strangers."""
        found = {f.record: f for f in procs.scan(self.mark)}
        for rec in self.world.records():
            key = f"{rec.token}/{rec.replica}/{rec.spawned}"
            if rec.identity is not None:
                if procs.alive(rec.identity):
                    found.pop(key, None)
                    if rec.state == "stopping":
                        procs.signal_group(rec.identity, signal.SIGTERM)
                    logger.info("replica adopted", replica=rec.replica, pid=rec.identity.pid, state=rec.state)
                else:
                    self.fence.clear(rec.ref.namespace, rec.ref.name, rec.replica)
                    outcome = self.world.exited(rec, "process exited while the driver was down", now)
                    logger.warning("replica gone while the driver was down", replica=rec.replica, outcome=outcome)
            elif rec.spawned and key in found:
                self.world.adopt(rec, found.pop(key).identity, now)
                logger.warning("replica spawned before a crash adopted", replica=rec.replica)
        self._stop_strangers(found.values())

    def _stop_strangers(self, strangers: Any) -> None:
        for f in strangers:
            logger.warning("orphan replica process stopped (drift)", pid=f.identity.pid, record=f.record)
            procs.signal_group(f.identity, signal.SIGKILL)

    async def _relist(self) -> None:
        while True:
            await asyncio.sleep(self.relist_interval)
            live = {(r.identity.pid, r.identity.start_time) for r in self.world.records() if r.identity}
            self._stop_strangers([f for f in procs.scan(self.mark)
                                  if (f.identity.pid, f.identity.start_time) not in live])
            for ref, replica in self.world.relist(time.time()):
                logger.warning("replica lost (drift)", namespace=ref.namespace, name=ref.name, replica=replica)
            await retrying("report drift", self.outbox.flush)

    # ---- commands ------------------------------------------------------------------------------------

    async def _commands(self, feed: Feed) -> None:
        while True:
            try:
                deliveries = await feed.take(FETCH_BATCH, timeout=1.0)
            except nats.errors.Error as e:
                logger.warning("pull failed", error=str(e) or type(e).__name__)
                await asyncio.sleep(1.0)
                continue
            if not deliveries:
                continue
            applied = [d for d in deliveries if await self._apply(d)]
            await retrying("report observations", self.outbox.flush)
            for d in applied:
                await self.feed.ack(d)
            self.wake.set()

    async def _apply(self, delivery: Delivery) -> bool:
        decoded = await command_of(self.feed, delivery)
        if decoded is None:
            return False
        ref, cmd = decoded
        outcome = self._actuate(ref, cmd, cause_of(trace_headers(delivery.stored.headers), delivery.stored.seq),
                                time.time())
        if outcome is None:
            await self.feed.term(delivery)
            return False
        COMMANDS.labels(DRIVER, type(cmd).__name__, outcome).inc()
        return True

    def _actuate(self, ref: Ref, cmd: Any, cause: Cause, now: float) -> str | None:
        match cmd:
            case StartReplica():
                outcome = self.world.admit(ref, cmd, now, cause)
                if outcome == "admitted":
                    self.causes[(ref.token, cmd.replica)] = cause
            case StopReplica():
                outcome, who = self.world.stop(ref, cmd, now, cause)
                if who is not None:
                    procs.signal_group(who, signal.SIGTERM)
            case EnsurePool():
                outcome = self.world.ensure_pool(ref, cmd, now, cause)
            case RetirePool():
                outcome = self.world.retire_pool(ref, now, cause)
            case _:
                logger.error("not a process-driver command", type=type(cmd).__name__)
                return None
        logger.info("command", type=type(cmd).__name__, namespace=ref.namespace, name=ref.name, outcome=outcome)
        return outcome

    async def _sample(self) -> None:
        observe_consumer(CONSUMER, await self.log.jsm.consumer_info(self.log.stream, CONSUMER))

    # ---- the monitor ---------------------------------------------------------------------------------

    async def _monitor(self) -> None:
        while True:
            self.wake.clear()
            now = time.time()
            due = self._step(now)
            if due:
                results = await asyncio.gather(*(probes.ready(self.http, r.port, r.launch.readiness.path)
                                                 for r in due if r.launch.readiness))
                self._probed(due, list(results), time.time())
            await retrying("report process events", self.outbox.flush)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self.wake.wait()

    def _step(self, now: float) -> list[Record]:
        """One synchronous pass over the records (no await: commands cannot interleave); returns the
        replicas whose readiness probe is due."""
        due: list[Record] = []
        for rec in self.world.records():
            key = (rec.token, rec.replica)
            if rec.identity is None:
                if rec.state == "pending" and rec.next_try <= now:
                    self._spawn(rec, now)
                continue
            gone, code = self._gone(key, rec)
            if gone:
                self._exited(key, rec, code, now)
            elif rec.state == "stopping":
                if now >= rec.stop_deadline and key not in self.killed:
                    self.killed.add(key)
                    procs.signal_group(rec.identity, signal.SIGKILL)
            elif rec.launch.readiness is None:
                if rec.state == "starting" and now - rec.up_since >= rec.launch.startup_seconds:
                    self.world.ready(rec, now, self.causes.pop(key, Cause()))
            elif self.probed.get(key, (0.0, 0))[0] <= now:
                due.append(rec)
        return due

    def _gone(self, key: tuple[str, str], rec: Record) -> tuple[bool, int | None]:
        assert rec.identity is not None
        child = self.children.get(key)
        if child is not None and child.pid == rec.identity.pid:
            code = child.poll()
            return code is not None, code
        return not procs.alive(rec.identity), None

    def _exited(self, key: tuple[str, str], rec: Record, code: int | None, now: float) -> None:
        reason = procs.describe_exit(code) if key in self.children or code is not None else \
            "process exited (not started by this driver incarnation: status unknown)"
        if rec.state == "starting":
            tail = procs.last_line(store.log_file(self.data_dir, rec.token, rec.replica))
            reason = f"{reason}: {tail}" if tail else reason
        elif rec.state == "ready" and key not in self.children:
            reason = "process disappeared"
        self.children.pop(key, None)
        self.probed.pop(key, None)
        self.killed.discard(key)
        self.fence.clear(rec.ref.namespace, rec.ref.name, rec.replica)
        outcome = self.world.exited(rec, reason, now)
        logger.warning("replica process exited", replica=rec.replica, reason=reason, outcome=outcome)

    def _spawn(self, rec: Record, now: float) -> None:
        key = (rec.token, rec.replica)
        rec = self.world.begin_spawn(rec, ports.free_port())
        log_file = store.log_file(self.data_dir, rec.token, rec.replica)
        try:
            uid = self.fence.uid(self.world.conn, rec.ref.namespace)
            work = self.fence.workdir(rec.ref.namespace, rec.ref.name, rec.replica, uid)
            env = fencing.environment(rec.launch.env, {
                "BOSUN_REPLICA": rec.replica, "BOSUN_PORT": str(rec.port), "BOSUN_MODEL": rec.model,
                "CUDA_VISIBLE_DEVICES": rec.devices, procs.MARK_DRIVER: self.mark,
                procs.MARK_RECORD: f"{rec.token}/{rec.replica}/{rec.spawned}", **self.extra_env}, work)
            child = procs.spawn(fencing.executable(rec.launch.command), env, log_file, work, uid)
        except (OSError, ValueError, subprocess.SubprocessError, FenceError) as e:
            why = f"cannot start {rec.launch.command[0]!r}: {getattr(e, 'strerror', None) or e}"
            if isinstance(e, PermissionError):  # most often a private directory on the way (a 0700 home, mktemp -d)
                why += (" (the replica runs as its namespace's own uid: the executable and every directory above it"
                        " must be readable and searchable by others, docs/security.md)")
            self.fence.clear(rec.ref.namespace, rec.ref.name, rec.replica)
            delay = self.world.start_failed(rec, why, now, self.causes.get(key, Cause()))
            logger.warning("replica failed to start", replica=rec.replica, error=why, retry_in=delay)
            return
        who = procs.identity(child.pid) or procs.Identity(child.pid, -1)
        self.children[key] = child
        self.world.spawned(rec, who, rec.port, now, self.causes.get(key, Cause()))
        logger.info("replica spawned", replica=rec.replica, pid=child.pid, port=rec.port, devices=rec.devices)

    def _probed(self, due: list[Record], results: list[bool], now: float) -> None:
        """Apply probe results to records still as they were when probed (a stop may have come meanwhile)."""
        for rec, ok in zip(due, results, strict=True):
            key = (rec.token, rec.replica)
            fresh = self.world.record(rec.token, rec.replica)
            if fresh is None or fresh.identity != rec.identity or fresh.state not in ("starting", "ready"):
                continue
            probe = rec.launch.readiness
            assert probe is not None
            failures = 0 if ok else self.probed.get(key, (0.0, 0))[1] + 1
            wait = probe.period_seconds if fresh.state == "ready" or ok else min(probe.period_seconds, 0.5)
            self.probed[key] = (now + wait, failures)
            if ok and fresh.state == "starting":
                self.world.ready(fresh, now, self.causes.pop(key, Cause()))
            elif fresh.state == "ready" and failures >= probe.failure_threshold:
                why = f"readiness probe GET {probe.path} failed {failures} times"
                self.world.condemn(fresh, why, now)
                assert fresh.identity is not None
                procs.signal_group(fresh.identity, signal.SIGTERM)
                logger.warning("replica failed readiness; stopping it", replica=rec.replica, failures=failures)
