"""ceiling: the raw nats-py JetStream cost of the same work, on the same server, in the same run.

publish_async of as many messages as the pipeline appended, then a durable pull consumer fetching and
acking as many as the pipeline consumed. The pipeline/ceiling ratio is what a change should move.
"""
from __future__ import annotations

import time
from typing import Any

import nats
from nats.js import api

from core.log import inbox_prefix


async def run_ceiling(internal_url: str, publish: int, consume: int, size: int = 300) -> dict[str, Any]:
    nc = await nats.connect(internal_url, inbox_prefix=inbox_prefix(internal_url))
    js = nc.jetstream()
    try:
        await js.add_stream(api.StreamConfig(name="CEILING", subjects=["ceiling.>"], storage=api.StorageType.FILE))
        payload = b"x" * size
        start = time.monotonic()
        futures = [await js.publish_async(f"ceiling.{i % 1000}", payload) for i in range(publish)]
        for f in futures:
            await f
        publish_s = time.monotonic() - start
        start = time.monotonic()
        got, reader = 0, 0
        while got < consume:  # like the pipeline: several durable consumers each reading the stream
            sub = await js.pull_subscribe("ceiling.>", durable=f"ceiling-{reader}", stream="CEILING")
            mine = min(publish, consume - got)
            while mine > 0:
                msgs = await sub.fetch(min(512, mine), timeout=5)
                for m in msgs:
                    await m.ack()
                mine -= len(msgs)
                got += len(msgs)
            reader += 1
        consume_s = time.monotonic() - start
        await js.delete_stream("CEILING")
    finally:
        await nc.close()
    return {"published": publish, "publish_seconds": round(publish_s, 3), "consumed": consume,
            "consume_seconds": round(consume_s, 3), "seconds": round(publish_s + consume_s, 3)}


async def stream_counts(internal_url: str) -> tuple[int, int]:
    """(messages the pipeline appended, messages its consumers had to take in).

    The controller and the projector each consume every event and command; the driver only commands.
    """
    nc = await nats.connect(internal_url, inbox_prefix=inbox_prefix(internal_url))
    try:
        jsm = nc.jsm()
        total = int((await jsm.stream_info("BOSUN")).state.messages)
        cmds = await jsm.stream_info("BOSUN", subjects_filter="bosun.cmd.>")
        commands = sum((cmds.state.subjects or {}).values())
        return total, 2 * total + commands
    finally:
        await nc.close()
