"""The log-tail responder over a real nats-server: answers from the replica's own file, refuses bad requests
with an answer (never silence, never a crash), and keeps answering afterwards."""
from __future__ import annotations

from pathlib import Path

import msgspec
import nats

from core import logtail
from core.logtail import TailReply, TailRequest
from dataplane.base import logtail as responder

_reply = msgspec.json.Decoder(TailReply)


async def test_a_driver_answers_tail_requests_for_its_own_replicas(nats_url: str, tmp_path: Path) -> None:
    (tmp_path / "chat-1.log").write_text("starting\nserving on port 4000\n")
    asked: list[TailRequest] = []

    def path_of(request: TailRequest) -> Path:
        asked.append(request)
        return tmp_path / f"{request.replica}.log"

    nc = await nats.connect(nats_url)
    try:
        sub = await responder.serve(nc, "process", path_of)
        subject = logtail.subject("process")
        good = TailRequest(kind="modeldeployment", namespace="team-a", name="chat", replica="chat-1", lines=1)
        answer = _reply.decode((await nc.request(subject, msgspec.json.encode(good), timeout=5)).data)
        assert answer == TailReply(found=True, lines=["serving on port 4000"], truncated=True, size=30)
        for bad in (b"not json", b'{"kind":"modeldeployment","namespace":"..","name":"x","replica":"y"}'):
            refused = _reply.decode((await nc.request(subject, bad, timeout=5)).data)
            assert not refused.found and refused.error.startswith("bad request")
        missing = msgspec.structs.replace(good, replica="chat-9")
        assert _reply.decode((await nc.request(subject, msgspec.json.encode(missing), timeout=5)).data).found is False
        assert [a.replica for a in asked] == ["chat-1", "chat-9"]  # bad requests never reach the driver's layout
        await sub.unsubscribe()
    finally:
        await nc.close()
