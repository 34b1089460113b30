"""partitions: can a controller host read only its partitions' messages, and at what cost in nats-server?

The design question of issue #11 ("adding a host must divide the reading"), measured on the embedded
nats-server before building it: the burst's shape of stream (resources x messages, one resource in ten a
pool), a mirror of it whose stored subjects carry the partition token (a stream subject transform with
`{{partition(16, kind, namespace, name)}}`; a mirror keeps the origin's sequence numbers, so fences and
checkpoints would stay valid), and one durable consumer per variant drained at full speed with cumulative
acks, as the host reads:

- `unfiltered`: today's host consumer on BOSUN (every host reads everything);
- `one_partition_filter`: a per-partition consumer (a single wildcard filter `bp.<n>.>` on the mirror);
- `two_partition_filters` / `eight_partition_filters`: one consumer per host with `filter_subjects`;
- `eight_partitions_and_pools`: that, plus the pools of the other eight partitions (every host folds
  every pool: 24 filters, non-overlapping as nats-server requires).

It also checks that Python's FNV-1a over kind+namespace+name gives nats-server's partition.
"""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import api

from core import natsserver

PARTITIONS = 16
PER_RESOURCE = 11
TRANSFORMS = [  # kind, namespace, name are wildcards 1-3 of events and 2-4 of commands
    api.SubjectTransform(src="bosun.ev.*.*.*.>",
                         dest="bp.{{partition(16,1,2,3)}}.ev.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.>"),
    api.SubjectTransform(src="bosun.cmd.*.*.*.*",
                         dest="bp.{{partition(16,2,3,4)}}.cmd.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}."
                              "{{wildcard(4)}}"),
]


def fnv1a(data: bytes) -> int:
    """nats-server's partition hash (`subject_transform.go`, getHashPartition): FNV-1a, 32 bits."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def variants() -> dict[str, tuple[str, list[str]]]:
    mine, others = range(8), range(8, 16)
    pools = [f"bp.{p}.ev.gpupool.>" for p in others] + [f"bp.{p}.cmd.*.gpupool.*.*" for p in others]
    return {"unfiltered": ("BOSUN", []), "one_partition_filter": ("BOSUNP", ["bp.0.>"]),
            "two_partition_filters": ("BOSUNP", ["bp.0.>", "bp.1.>"]),
            "eight_partition_filters": ("BOSUNP", [f"bp.{p}.>" for p in mine]),
            "eight_partitions_and_pools": ("BOSUNP", [f"bp.{p}.>" for p in mine] + pools)}


async def _fill(nc: Client, resources: int) -> int:
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name="BOSUN", subjects=["bosun.ev.>", "bosun.cmd.>", "bosun.audit.>"]))
    await js.add_stream(api.StreamConfig(name="BOSUNP", mirror=api.StreamSource(name="BOSUN",
                                                                                subject_transforms=TRANSFORMS)))
    pending: list[Any] = []
    for i in range(resources):
        kind = "gpupool" if i % 10 == 9 else "modeldeployment"
        for j in range(PER_RESOURCE):
            tail = ("spec", "ctl.x", "obs", "inbox")[j % 4]
            subject = f"bosun.cmd.sim.{kind}.ns{i % 7}.r{i}" if j == 5 else f"bosun.ev.{kind}.ns{i % 7}.r{i}.{tail}"
            pending.append(js.publish(subject, b"x" * 200))
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    total = resources * PER_RESOURCE
    while (await js.stream_info("BOSUNP")).state.last_seq < total:
        await asyncio.sleep(0.1)
    return total


async def _matches_nats(nc: Client) -> bool:
    js = nc.jetstream()
    for seq in (1, 2, 12, 57):
        tokens = (await js.get_msg("BOSUNP", seq)).subject.split(".")
        kind, ns, name = tokens[3:6] if tokens[2] == "ev" else tokens[4:7]
        if fnv1a(f"{kind}{ns}{name}".encode()) % PARTITIONS != int(tokens[1]):
            return False
    return True


async def _drain(nc: Client, stream: str, durable: str, want: int, timeout: float, batch: int = 512) -> float:
    """Seconds to receive `want` messages, pull requests kept topped up, AckAll every 256."""
    inbox, got, asked = nc.new_inbox(), 0, 0
    more = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        nonlocal got, asked
        if msg.reply:
            got += 1
            if got % 256 == 0 or got == want:
                await nc.publish(msg.reply, b"+ACK")
        else:  # the end of a pull request: what it did not deliver is no longer asked for
            left = (msg.headers or {}).get("Nats-Pending-Messages")
            asked -= int(left) if left else 0
        more.set()

    sub = await nc.subscribe(inbox, cb=on_msg)
    t0 = time.monotonic()
    try:
        while got < want and time.monotonic() - t0 < timeout:
            if asked - got < 2 * batch:
                asked += batch
                request = json.dumps({"batch": batch, "expires": 2_000_000_000}).encode()
                await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}", request, reply=inbox)
                continue
            more.clear()
            try:
                await asyncio.wait_for(more.wait(), 0.5)
            except TimeoutError:
                asked = got
    finally:
        await sub.unsubscribe()
    return time.monotonic() - t0


async def run_partitions(resources: int, timeout: float = 120.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bosun-bench-partitions-") as work:
        server = natsserver.start(Path(work))
        try:
            nc = await nats.connect(server.url())
            total = await _fill(nc, resources)
            out: dict[str, Any] = {"messages": total, "python_partition_matches_nats": await _matches_nats(nc)}
            js = nc.jetstream()
            for name, (stream, filters) in variants().items():
                config = api.ConsumerConfig(durable_name=name, ack_policy=api.AckPolicy.ALL, max_ack_pending=8192)
                if len(filters) == 1:
                    config.filter_subject = filters[0]
                elif filters:
                    config.filter_subjects = filters
                await js.add_consumer(stream, config)
                want = int((await js.consumer_info(stream, name)).num_pending or 0)
                seconds = await _drain(nc, stream, name, want, timeout)
                got = want - int((await js.consumer_info(stream, name)).num_pending or 0)
                out[name] = {"filters": len(filters), "delivered": got, "share": round(got / total, 3),
                             "seconds": round(seconds, 2), "messages_per_second": round(got / max(seconds, 1e-9))}
            await nc.close()
            return out
        finally:
            server.stop()
