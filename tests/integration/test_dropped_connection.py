"""A dropped NATS connection: an append whose ack died with the server fails at once (with the
connection-lost error, not the ack timeout's), and a feed asks for messages again once reconnected."""
from __future__ import annotations

import asyncio
from pathlib import Path

from nats.js import api

from core import dropped, natsserver, ready, subjects
from core.feed import Feed, ensure_consumer
from core.log import Log, Unavailable
from tests.conftest import eventually


async def test_an_unacknowledged_append_fails_when_the_connection_drops(tmp_path: Path) -> None:
    server = natsserver.start(tmp_path / "natsd")
    try:
        nc = await ready.connect(server.url(), "dropped-append")
        lg = Log(nc)
        await ready.ensure(lg)
        # A subscriber that takes the message and never acks: a server that dies between store and ack.
        silent = await nc.subscribe("test.silent")
        append = asyncio.create_task(lg.publish("test.silent", b"x", {}))

        async def received() -> bool:
            return silent.delivered > 0

        await eventually(received)
        server.proc.kill()
        server.proc.wait()

        async def failed() -> bool:
            return append.done()

        await eventually(failed, timeout=8)  # the ack timeout itself is 10 s
        error = append.exception()
        assert isinstance(error, Unavailable) and "connection lost" in str(error), error
        await nc.close()
    finally:
        server.stop()


async def test_a_feed_renews_its_pull_requests_on_reconnect(tmp_path: Path) -> None:
    server = natsserver.start(tmp_path / "natsd")
    try:
        nc = await ready.connect(server.url(), "dropped-feed")
        lg = Log(nc)
        await ready.ensure(lg)
        await ensure_consumer(lg.jsm, lg.stream, api.ConsumerConfig(
            durable_name="dropped-test", ack_policy=api.AckPolicy.EXPLICIT, filter_subject=subjects.EVENTS))
        feed = dropped.watch_feed(Feed(nc, lg.stream, "dropped-test", batch=8))
        await feed.start()
        assert await feed.take(8, timeout=0.2) == []
        assert feed.outstanding > 0, "a pull request is open on the server"
        server.proc.kill()
        server.proc.wait()
        server = natsserver.start(tmp_path / "natsd", port=server.port)

        async def renewed() -> bool:
            return nc.is_connected and feed.outstanding == 0

        await eventually(renewed)  # the request died with the server: forgotten, asked again on take
        await lg.publish("bosun.ev.x.spec", b"{}", {})

        async def delivered() -> bool:
            return bool(await feed.take(8, timeout=0.2))

        await eventually(delivered)
        await feed.stop()
        await nc.close()
    finally:
        server.stop()
