"""The what-if loader lists a KV bucket completely: one entry per key it held, delete markers counted but not
returned (a listing cut short by nats-py's early end-of-watch made a plan start without the pool's snapshot:
"no ready GpuPool matches"; it is now read again until it covers the bucket's message count)."""
from __future__ import annotations

from analysis.whatif import load
from core import log as corelog


async def test_a_bucket_listing_holds_every_live_key_and_counts_the_deleted(log: corelog.Log) -> None:
    kv = await log.kv(corelog.SNAPSHOTS)
    for i in range(60):
        await kv.put(f"modeldeployment.t.d{i}", f"s{i}".encode())
    for i in range(0, 60, 6):
        await kv.delete(f"modeldeployment.t.d{i}")
    listed = dict(await load._bucket(log, corelog.SNAPSHOTS))
    assert len(listed) == 50 and listed["modeldeployment.t.d1"] == b"s1"
    assert not any(f"modeldeployment.t.d{i}" in listed for i in range(0, 60, 6))
    out, seen = await load._pass(kv)
    assert seen == 60 and len(out) == 50  # markers counted: the pass matches the bucket's message count
