"""What a controller host reads: its consumers, pulled together and merged into stream order.

A host that owns every partition reads the stream with one unfiltered consumer (the fastest reader, and
nothing to merge). A host that owns some reads the partition-mapped copy (`core.partitioned`): one
consumer per owned partition (`bp.<n>.>`) and two per publisher kind (its events and commands, in every
partition: every host folds every pool's view, `actors.sharing`), so N hosts each read about 1/N of the
log. `actors.merge` hands the deliveries on in sequence order; a quiet consumer's bound is certified
from the stream leader (the next message of its filter, and the stream's last message), so a busy
partition never waits on an idle one for longer than that round trip. Consumers are made fresh at the
run's start position and deleted when their partition is lost or the run ends.
"""
from __future__ import annotations

import asyncio
import contextlib
import time

import nats.errors
import nats.js.errors
import structlog
from nats.js import api

from actors.acks import AckLedger
from actors.merge import Merge, Merged
from core import dropped, partitioned
from core.feed import Delivery, Feed
from core.log import TRANSIENT_READ, Log

log = structlog.get_logger("bosun.controller")
SEP = "_"
"""Between a host's durable name and a consumer's part: hostnames have no `_`, so host `vm` never takes
host `vm-2`'s consumers for its own (`_clear_stale` deleted them under it with `-`)."""
QUIET = 0.02
"""A consumer that delivered nothing for this long is certified rather than waited for."""
ACK_EVERY = 0.05
"""Acks of one consumer at most this often (each is a replicated consumer update on a cluster): only flow
control rides on them, since every run starts from the checkpoints, not from a consumer's ack floor."""


class Gone(Exception):
    """A consumer of ours no longer exists: the run starts over (and makes them again)."""


class Lost(Exception):
    """A consumer skipped a delivery (`actors.continuity`): the run starts over from the checkpoints."""


def reads_partitions(owned: set[int], partitions: int, mode: str = "auto") -> bool:
    """Read the copy (only our partitions) or the whole stream? `mode` (BOSUN_READ) `stream`/`partitions` forces it."""
    if mode == "stream" or partitions != partitioned.PARTITIONS:
        return False
    return mode == "partitions" or len(owned) < partitions


class Intake:
    def __init__(self, lg: Log, base: str, *, batch: int, max_in_flight: int, read: str = "auto") -> None:
        self.log = lg
        self.base = base
        self.read_mode = read
        """BOSUN_READ: `auto` (the copy when we own fewer than all partitions), `stream` or `partitions`."""
        self.batch = batch
        self.max_in_flight = max_in_flight
        self.wake = asyncio.Event()
        self.stream = ""
        """The stream read this run: the log itself, or its partition-mapped copy."""
        self.partitioned = False
        self.filters: dict[str, str] = {}
        """Source (= durable name) -> its filter subject ("" for the whole stream)."""
        self.feeds: dict[str, Feed] = {}
        self.merge = Merge(1)
        self.pending: dict[str, int] = {}
        self.read: dict[str, int] = {}
        """Source -> the read stream's own sequence of its last delivery (the copy's numbers are not BOSUN's)."""
        self.heard: dict[str, float] = {}
        self._certifying: asyncio.Task[None] | None = None
        self._deleting: set[asyncio.Task[None]] = set()
        self._unsent: dict[str, Delivery] = {}
        """Source -> the newest done delivery not acked yet (`ack` sends it when due)."""
        self._acked_at: dict[str, float] = {}
        self._since: dict[str, int] = {}
        """Source -> deliveries taken since its last ack: acked at once past a quarter of max_ack_pending."""

    # ---- consumers ---------------------------------------------------------------------------------

    async def open(self, start: int, owned: set[int], partitions: int, publishers: list[str]) -> None:
        """Make this run's consumers at `start` (the checkpoint floor), replacing any left by earlier runs."""
        if reads_partitions(owned, partitions, self.read_mode):
            self.stream, self.partitioned = await self._copy(), True
            self.filters = {f"{self.base}{SEP}p{p}": partitioned.partition_filter(p) for p in sorted(owned)}
            for kind in publishers:
                for i, subject in enumerate(partitioned.kind_filters(kind)):
                    self.filters[f"{self.base}{SEP}{kind}{SEP}{i}"] = subject
        else:
            self.stream, self.partitioned, self.filters = self.log.stream, False, {self.base: ""}
        await self._clear_stale()
        first = await self._first_local(start)
        await asyncio.gather(*(self._create(name, subject, first) for name, subject in self.filters.items()))
        self.merge = Merge(start)
        restamp = partitioned.restamp if self.partitioned else None
        for name in self.filters:
            self.merge.add(name)
            self.read[name] = first - 1
            feed = dropped.watch_feed(Feed(self.log.nc, self.stream, name, batch=self.batch, restamp=restamp,
                                           wake=self.wake))
            await feed.start()
            self.feeds[name], self.heard[name] = feed, time.monotonic()

    async def _copy(self) -> str:
        name = partitioned.stream_name(self.log.stream)
        try:
            await self.log.jsm.stream_info(name)
        except nats.js.errors.NotFoundError:
            info = await self.log.jsm.stream_info(self.log.stream)
            config = partitioned.stream_config(self.log.stream, info.config.num_replicas or 1)
            with contextlib.suppress(nats.js.errors.BadRequestError):  # another host made it first
                await self.log.jsm.add_stream(config)
        return name

    async def _first_local(self, start: int) -> int:
        """The read stream's sequence to start at for BOSUN's `start`. The copy numbers BOSUN's messages
        without BOSUN's deleted ones, so starting that many earlier misses nothing (the extra ones are
        below the merge's start: handed on as redeliveries, which cells skip)."""
        if not self.partitioned:
            return start
        info = await self.log.jsm.stream_info(self.log.stream)
        return max(1, start - int(info.state.num_deleted or 0))
    async def _create(self, name: str, subject: str, start: int) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.log.jsm.delete_consumer(self.stream, name)
        await self.log.jsm.add_consumer(self.stream, api.ConsumerConfig(
            durable_name=name, deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
            filter_subject=subject or None, ack_policy=api.AckPolicy.ALL, ack_wait=120,
            max_ack_pending=self.max_in_flight, max_deliver=-1,
            inactive_threshold=3600))  # a host gone for good: its (replicated) consumers go too

    async def _clear_stale(self) -> None:
        """Consumers of ours an earlier run made for partitions we no longer own, on either stream."""
        for stream in {self.log.stream, partitioned.stream_name(self.log.stream)}:
            try:
                infos = await self.log.jsm.consumers_info(stream)
            except nats.js.errors.NotFoundError:
                continue
            for info in infos:
                name = info.name or ""
                if (name == self.base or name.startswith(self.base + SEP)) and (
                        name not in self.filters or stream != self.stream):
                    with contextlib.suppress(nats.js.errors.NotFoundError):
                        await self.log.jsm.delete_consumer(stream, name)

    def drop(self, partitions: set[int], acks: AckLedger[Delivery]) -> None:
        """Partitions lost: stop reading them at once (nothing of them is acked; the merge no longer waits
        on them); their consumers are deleted in the background."""
        for p in partitions:
            name = f"{self.base}{SEP}p{p}"
            feed = self.feeds.pop(name, None)
            if feed is None:
                continue
            self.merge.remove(name)
            self.filters.pop(name, None)
            acks.drop_source(name)
            task = asyncio.ensure_future(self._delete(name, feed))
            self._deleting.add(task)
            task.add_done_callback(self._deleting.discard)

    async def _delete(self, name: str, feed: Feed) -> None:
        await feed.stop()
        with contextlib.suppress(*TRANSIENT_READ, nats.js.errors.NotFoundError):
            await self.log.jsm.delete_consumer(self.stream, name)

    async def close(self, delete: bool) -> None:
        """Stop reading; deletions of lost partitions' consumers finish first, so none of them outlives the
        run and deletes a consumer of the same name the next run makes."""
        if self._certifying is not None:
            self._certifying.cancel()
        if self._deleting:
            await asyncio.wait(self._deleting, timeout=5)
        for name, feed in list(self.feeds.items()):
            await feed.stop()
            if delete:
                with contextlib.suppress(*TRANSIENT_READ, nats.js.errors.NotFoundError):
                    await self.log.jsm.delete_consumer(self.stream, name)

    # ---- reading -----------------------------------------------------------------------------------

    async def take(self, acks: AckLedger[Delivery], timeout: float, goal: int = 0) -> list[Merged]:
        """Messages in sequence order, waiting at most `timeout` for some; `goal`: a sequence to certify
        the quiet consumers up to even with nothing waiting (catching up to the log's end)."""
        deadline = time.monotonic() + timeout
        while True:
            self.wake.clear()
            for name, feed in list(self.feeds.items()):
                room = self.max_in_flight - acks.in_flight_of(name) - self.merge.held(name)
                batch = await self._pull(name, feed, min(self.batch, room))  # a batch at a time: acks keep flowing
                if batch:
                    last = batch[-1]
                    self.heard[name], self.pending[name] = time.monotonic(), last.pending
                    self.read[name] = max(self.read.get(name, 0), last.stream_seq)
                    self._since[name] = self._since.get(name, 0) + len(batch)
                    if not self.merge.push(name, batch):
                        raise Lost(name)
            merged = self.merge.pop()
            if merged:
                return merged
            if self._unsent:  # quiet now: what waited for ACK_EVERY goes out
                await self.ack(acks)
            behind = self._maybe_certify(max(self.merge.newest, goal))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):  # an arrival, an ack (room again) or a certification
                await asyncio.wait_for(self.wake.wait(), min(remaining, QUIET) if behind else remaining)

    async def _pull(self, name: str, feed: Feed, room: int) -> list[Delivery]:
        try:
            return await feed.take(room, timeout=0)
        except nats.errors.ConnectionClosedError:
            raise
        except nats.js.errors.NotFoundError:
            if await feed.revive(self.log.jsm) is False:
                raise Gone(name) from None
        except nats.errors.Error as e:
            log.warning("pull failed", durable=name, error=str(e))
        return []

    def _maybe_certify(self, goal: int) -> bool:
        """Certify the quiet sources holding the frontier below `goal`; True while any source is behind."""
        behind = self.merge.behind(goal)
        if not behind or (self._certifying is not None and not self._certifying.done()):
            return bool(behind)
        now = time.monotonic()
        quiet = [n for n in behind if now - self.heard.get(n, 0.0) >= QUIET]
        if quiet:
            self._certifying = asyncio.ensure_future(self._certify(quiet))
        return True

    async def _certify(self, names: list[str]) -> None:
        """Raise quiet consumers' bounds from the stream leader: the next message of each one's filter
        (nothing of it before that), or none at all (nothing of it up to the last message, read first)."""
        try:
            local = (await self.log.jsm.stream_info(self.stream)).state.last_seq
            if not local:
                return
            last = await self._origin_of(local)
            await asyncio.gather(*(self._certify_one(name, last, local) for name in names))
        except TRANSIENT_READ as e:
            log.warning("consumer positions unavailable; retrying", error=str(e) or type(e).__name__)
            await asyncio.sleep(0.2)
        finally:
            self.wake.set()

    async def _certify_one(self, name: str, last: int, local: int) -> None:
        """`local`/`last`: the read stream's last sequence and its BOSUN sequence. The scan position moves
        on with each answer (`read`): the next round looks only at what came since, not from the start."""
        after = self.read.get(name, 0) + 1
        try:
            found = await self.log.jsm.get_msg(self.stream, after, subject=self.filters.get(name) or ">", next=True)
        except nats.js.errors.NotFoundError:
            self.merge.certify(name, last)
            self.read[name] = max(self.read.get(name, 0), local)
            return
        seq = int(found.seq or after)
        self.merge.certify(name, (partitioned.origin_seq(found.headers or {}) if self.partitioned else seq) - 1)
        self.read[name] = max(self.read.get(name, 0), seq - 1)

    async def _origin_of(self, local: int) -> int:
        """BOSUN's sequence of the read stream's message `local`."""
        if not self.partitioned:
            return local
        found = await self.log.jsm.get_msg(self.stream, local)
        return partitioned.origin_seq(found.headers or {})

    async def ack(self, acks: AckLedger[Delivery]) -> None:
        """Ack (AckAll) each consumer's done prefix: one ack per consumer and prefix, not one per message,
        and per consumer at most every ACK_EVERY unless many deliveries wait on it."""
        now = time.monotonic()
        for name, feed in self.feeds.items():
            done = acks.releasable(name)
            if done is not None:
                self._unsent[name] = done
            last = self._unsent.get(name)
            if last is None or (now - self._acked_at.get(name, 0.0) < ACK_EVERY
                                and self._since.get(name, 0) < self.max_in_flight // 4):
                continue
            del self._unsent[name]
            self._acked_at[name], self._since[name] = now, 0
            self.wake.set()  # room for more deliveries
            try:
                await feed.ack(last)
            except nats.errors.Error as e:
                log.warning("ack failed; messages will be redelivered and skipped", seq=last.stored.seq,
                            error=str(e))

    @property
    def lag(self) -> int:
        return sum(self.pending.values())
