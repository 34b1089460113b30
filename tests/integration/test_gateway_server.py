"""`gateway.server.serve` for real: uvicorn on a free port, NATS intents, SSE watch, clean stop."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from projections import projector
from tests.integration.test_gateway_support import AUTH, TOKEN, deployment, path


async def sse_events(lines: AsyncIterator[str], want: int) -> list[tuple[str, int, dict[str, object]]]:
    events: list[tuple[str, int, dict[str, object]]] = []
    fields: dict[str, str] = {}
    async for line in lines:
        if line == "" and fields:
            events.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))
            fields = {}
            if len(events) >= want:
                return events
        elif line and not line.startswith(":"):
            key, _, value = line.partition(": ")
            fields[key] = value
    return events


async def test_serve_http_watch_and_stop(nats_url: str, tmp_path: Path) -> None:
    from gateway.server import serve

    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    proj = asyncio.create_task(projector.serve(nats_url, tmp_path / "db", stop=stop))
    gw = asyncio.create_task(serve(nats_url, tmp_path / "db", stop=stop, token_file=token_file,
                                   on_ready=ready.set_result))
    try:
        url = await asyncio.wait_for(ready, 20)
        async with httpx.AsyncClient(base_url=url, timeout=20) as c:
            assert (await c.get("/healthz")).status_code == 200
            first = await c.put(path("demo", "md", "chat"), json=deployment("chat"), headers=AUTH)
            assert first.status_code == 202
            await c.get(path("demo", "md", "chat") + f"?minVersion={first.json()['resourceVersion']}",
                        headers=AUTH)
            async with c.stream("GET", "/v1/watch?kind=modeldeployment&namespace=demo", headers=AUTH) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                lines = r.aiter_lines()
                initial = await asyncio.wait_for(sse_events(lines, 1), 20)
                assert initial[0][0] == "ADDED" and initial[0][2]["metadata"]["name"] == "chat"  # type: ignore[index]
                await c.put(path("demo", "md", "web"), json=deployment("web"), headers=AUTH)
                later = await asyncio.wait_for(sse_events(lines, 1), 20)
                assert later[0][0] == "ADDED" and later[0][2]["metadata"]["name"] == "web"  # type: ignore[index]
                assert later[0][1] > initial[0][1]
    finally:
        stop.set()
        await asyncio.wait_for(gw, 20)
        await asyncio.wait_for(proj, 20)
