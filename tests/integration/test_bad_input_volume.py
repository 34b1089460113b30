"""The bad-input corpus at volume, interleaved with good applies, against a real gateway (issue #16 item 5).

Several passes of every case, HTTP and NATS, sent concurrently while good clients apply: every bad request
gets its expected structured 4xx (never a 5xx), leaves exactly one audit record and appends nothing else;
every good apply is accepted and is the only resource event in the log. (How long the good applies take
under the noise is a benchmark figure: `bosun bench badinput`, bench/RESULTS.md.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from core import log as corelog
from core.audit import AuditRecord
from corpus import bad_inputs as corpus
from gateway.intents.responder import Responder, reply_status
from tests.conftest import eventually
from tests.integration.test_bad_inputs import wire
from tests.integration.test_gateway_support import TOKEN, Env, deployment, gateway_env

PASSES = 3
GOOD = 24
_records = msgspec.json.Decoder(AuditRecord)


@pytest.fixture
async def env(nats_url: str, tmp_path: Path) -> AsyncIterator[tuple[Env, nats.NATS]]:
    async with gateway_env(nats_url, tmp_path) as e:
        responder = Responder(e.gw.nc, e.gw.admission)
        await responder.start()
        client = await nats.connect(nats_url, name="volume-client")
        try:
            yield e, client
        finally:
            await client.close()
            await responder.stop()


async def _bad(e: Env, nc: nats.NATS, case: Any) -> tuple[str, int, int]:
    headers = corpus.with_token(case.headers, TOKEN)
    if isinstance(case, corpus.NatsCase):
        reply = await nc.request(case.subject, case.body, timeout=30, headers=headers)
        return case.name, case.status, reply_status(reply.headers)
    raw = [(k.encode(), wire(v)) for k, v in headers.items()]
    r = await e.client.request(case.method, case.path, headers=raw, content=case.body or None)
    assert "error" in json.loads(r.content), (case.name, r.content[:200])
    return case.name, case.status, r.status_code


async def _good(e: Env, nc: nats.NATS, i: int) -> int:
    doc = deployment(f"g{i}", ns="good", replicas=1)
    if i % 2:
        reply = await nc.request(f"bosun.intent.modeldeployment.good.g{i}", json.dumps(doc).encode(), timeout=30,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        return reply_status(reply.headers)
    r = await e.client.put(f"/v1/namespaces/good/modeldeployments/g{i}", json=doc,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    return r.status_code


async def _since(log: corelog.Log, seq: int, subjects: str) -> list[corelog.StoredMessage]:
    async with contextlib.aclosing(log.read(subjects, start_seq=seq + 1)) as messages:
        return [m async for m in messages]


async def test_bad_input_at_volume_is_refused_audited_and_leaves_good_applies_alone(
    env: tuple[Env, nats.NATS],
) -> None:
    e, nc = env
    before = await e.log.last_seq()
    cases = [c for _ in range(PASSES) for c in [*corpus.HTTP, *corpus.NATS]]
    limit = asyncio.Semaphore(16)

    async def bounded(coro: Any) -> Any:
        async with limit:
            return await coro

    answers = await asyncio.gather(*(bounded(_bad(e, nc, c)) for c in cases),
                                   *(bounded(_good(e, nc, i)) for i in range(GOOD)))
    bad, good = answers[: len(cases)], answers[len(cases):]
    assert [a for a in bad if a[2] >= 500] == []
    assert [a for a in bad if a[1] != a[2]] == []
    assert good == [202] * GOOD

    async def audited() -> Counter[str]:
        found: Counter[str] = Counter()
        for r in map(_records.decode, (m.data for m in await _since(e.log, before, "bosun.audit.>"))):
            found["refused" if r.status >= 400 else "allowed"] += r.count
        return found if found["refused"] >= len(cases) and found["allowed"] >= GOOD else Counter()

    await e.gw.admission.drain()  # repeated refusals are aggregated per minute (issue #24): count them now
    counted = await eventually(audited, timeout=30)
    assert counted == Counter(refused=len(cases), allowed=GOOD)  # every request counted, none lost
    events = {m.subject for m in await _since(e.log, before, "bosun.ev.>")}
    assert events == {f"bosun.ev.modeldeployment.good.g{i}.spec" for i in range(GOOD)}
