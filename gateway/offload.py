"""Request documents parsed off the event loop when parsing them is expensive.

Every good client's request is served by the gateway's one event loop, so one slow parse delays them all:
a 1 MiB YAML body takes ~1.5 s of CPU to load, 1 MiB of JSON ~0.15 s, a YAML alias graph that expands
just under the value budget ~0.1 s (measured on the 2-core box). Small bodies without heavy expansion
(nearly every apply: a manifest is a few hundred bytes) are parsed inline, where a thread hop would cost
more than the parse; the rest run in one worker thread. The worker still needs the interpreter lock, but
it yields it every switch interval (5 ms), so the loop keeps answering while it works: a stream of
expensive bodies costs their senders the wait, not everyone else. One worker, so that such a stream
takes at most one core's share from the loop.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateway import manifests
from gateway.yamlbounds import Heavy

INLINE_BYTES = 16 << 10
"""Bodies up to this size are parsed on the loop (≤ ~2 ms of JSON or YAML)."""
HEAVY_VALUES = 5_000
"""Values (aliases expanded) past which a small YAML body is constructed and checked in the worker."""
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bosun-parse")


async def parse(data: bytes, content_type: str | None = None) -> list[Any]:
    """`manifests.parse`, off the loop when the body is large or expands a lot; the same answers and errors."""
    if len(data) <= INLINE_BYTES:
        try:
            return manifests.parse(data, content_type, heavy=HEAVY_VALUES)
        except Heavy:
            pass
    return await asyncio.get_running_loop().run_in_executor(_worker, manifests.parse, data, content_type)


async def parse_one(data: bytes, content_type: str | None = None) -> Any:
    """`manifests.parse_one`, off the loop as `parse`."""
    return manifests.one_of(await parse(data, content_type))
