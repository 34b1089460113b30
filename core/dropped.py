"""What a dropped NATS connection leaves hanging — acks that will never come, pull requests that are
gone — is given up at once instead of after a timeout.

Why: chaos rounds measured ≈10 s from a nats-server kill to convergence, of which the restart took
0.2 s. An append whose PUB reached the server that died is never acknowledged, and `Replies` gives up
only after its timeout (10 s): the gateway answering a client, an actor's step, a driver's report all
waited that long. And a consumer's open pull requests died with the server, which the feed notices only
when nothing came for its expiry plus a second (3 s).

So on disconnect every unacknowledged append of the connection fails with `Unavailable` — the error the
timeout raises anyway, so each caller's own retry runs now; safe because every append carries a
`Nats-Msg-Id` and an expected sequence (a write that did land is found as ours) — and on reconnect every
feed of the connection forgets its outstanding requests and asks again on its next `take`.

Wired by `core.ready`: `connect` installs the callbacks, `ensure` registers the Log; a component
registers its feeds with `watch_feed`.
"""
from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from core.feed import Feed
from core.log import Log, Replies, Unavailable

_appends: weakref.WeakSet[Replies] = weakref.WeakSet()
_feeds: weakref.WeakSet[Feed] = weakref.WeakSet()


def watch(lg: Log) -> None:
    """Fail `lg`'s unacknowledged appends when its connection drops."""
    _appends.add(lg.replies)


def watch_feed(feed: Feed) -> Feed:
    """Renew `feed`'s pull requests as soon as its connection is back."""
    _feeds.add(feed)
    return feed


def fail_pending(replies: Replies) -> int:
    """Fail every append of `replies` still waiting for its ack; how many there were."""
    failed = 0
    for fut in list(replies.waiting.values()):
        if not fut.done():
            fut.set_exception(Unavailable("connection lost before the append was acknowledged"))
            failed += 1
    return failed


async def on_disconnect() -> None:
    """nats-py calls it with the connection already marked reconnecting: only such connections' appends."""
    for replies in list(_appends):
        if replies.nc.is_reconnecting or not replies.nc.is_connected:
            fail_pending(replies)


async def on_reconnect() -> None:
    for feed in list(_feeds):
        if feed.nc.is_connected:
            feed.outstanding = 0  # what the feed itself does after `expires + 1` s of silence


def chained(ours: Callable[[], Awaitable[None]],
            theirs: Callable[[], Awaitable[Any]] | None) -> Callable[[], Awaitable[None]]:
    """Our callback, then one the caller passed itself."""
    async def callback() -> None:
        await ours()
        if theirs is not None:
            await theirs()
    return callback
