"""`/v1/watch` sends every change once, in stream order, even when changes commit mid-round (issue #28).

The race made deterministic: the read model is wrapped so that, once, changes are projected and committed
between the stream's checkpoint read and its `changed_since` query. The old loop then emitted those
changes (seq > checkpoint), set its cursor back to the checkpoint and sent them again (`274, 278, 274, 278`).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.http.watch import Filters, stream
from tests.conftest import REGISTRY, eventually
from tests.integration.test_gateway_support import AUTH, Env, deployment, gateway_env, path


class CommitsMidRound:
    """The real read model; its first `changed_since` after `arm()` first waits for `commit()` to land."""

    def __init__(self, reads: Any) -> None:
        self.reads = reads
        self.commit: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reads, name)

    async def changed_since(self, *args: Any, **kwargs: Any) -> Any:
        if self.commit is not None:
            commit, self.commit = self.commit, None
            await commit()  # after the caller read its checkpoint, before it reads the changes
        return await self.reads.changed_since(*args, **kwargs)


async def test_changes_committed_between_checkpoint_and_read_come_once_in_order(
        nats_url: str, tmp_path: Path) -> None:
    async with gateway_env(nats_url, tmp_path, projector=True) as env:
        wrapped = CommitsMidRound(env.gw.reads)
        env.gw.reads = wrapped
        first = await _apply(env, "a")
        await eventually(lambda: env.gw.reads.wait_for(first, 0.1))

        async def commit() -> None:
            last = 0
            for name in ("b", "c"):
                last = await _apply(env, name)
            await eventually(lambda: wrapped.reads.wait_for(last, 0.1))

        info = REGISTRY.resolve("modeldeployment")
        frames = stream(env.gw, Filters(info, "demo", None, None), first, timeout=1.0)
        wrapped.commit = commit
        seqs = [seq async for seq in _seqs(frames)]
        assert seqs == sorted(set(seqs)), f"repeated or reordered events: {seqs}"
        assert len(seqs) == 2


async def _apply(env: Env, name: str) -> int:
    r = await env.client.put(path("demo", "md", name), json=deployment(name), headers=AUTH)
    assert r.status_code == 202, r.text
    return int(r.json()["resourceVersion"])


async def _seqs(frames: Any) -> Any:
    async for chunk in frames:
        text = chunk.decode()
        if text.startswith(("event: ADDED", "event: MODIFIED")):
            yield int(text.split("\nid: ")[1].split("\n")[0])
        await asyncio.sleep(0)
