"""The bad-input sender of `bench badinput`, in a process of its own (`python -m bench._noise`).

Why a separate process: the corpus holds 1 MiB bodies and 40 KiB header blocks; built and sent from the
good clients' own event loop they would delay the good clients' requests on the client side, and the
figure would blame the gateway for it. The cases are `corpus/bad_inputs.py`; they are sent round-robin at a
fixed rate. One JSON line on stdout at the end: sent, status counts, 5xx, and the cases answered otherwise
than expected (a 429 counts apart: the rate limit's answer).
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import click
import httpx
import nats


def _cases() -> list[Any]:
    from corpus import bad_inputs

    return [*bad_inputs.HTTP, *bad_inputs.NATS]


async def _send(http: httpx.AsyncClient, nc: Any, case: Any, token: str) -> int:
    headers = {k: v.replace("{token}", token) for k, v in case.headers.items()}
    if hasattr(case, "subject"):
        try:
            msg = await nc.request(case.subject, case.body, timeout=10, headers=headers)
            return int((msg.headers or {}).get("Bosun-Status", "0"))
        except Exception:  # noqa: BLE001 - no answer is counted as status 0
            return 0
    raw = {k.encode(): v.encode() for k, v in headers.items()}
    try:
        return (await http.request(case.method, case.path, content=case.body, headers=raw)).status_code
    except httpx.HTTPError:
        return 0


async def _run(url: str, nats_url: str, inbox: str, token: str, rate: float, seconds: float) -> dict[str, Any]:
    cases = _cases()
    statuses: Counter[int] = Counter()
    unexpected: dict[str, tuple[int, int]] = {}
    nc = await nats.connect(nats_url, inbox_prefix=inbox, token=token)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=8)) as http:
        async def one(case: Any) -> None:
            status = await _send(http, nc, case, token)
            statuses[status] += 1
            if status not in (case.status, 429):
                unexpected.setdefault(case.name, (case.status, status))

        tasks: set[asyncio.Task[None]] = set()
        start, i = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            if len(tasks) < 64:  # past 64 in flight the gateway is not keeping up: skip, don't pile on
                task = asyncio.create_task(one(cases[i % len(cases)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            i += 1
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    await nc.close()
    sent = sum(statuses.values())
    return {"sent": sent, "per_second": round(sent / elapsed, 1), "statuses": dict(sorted(statuses.items())),
            "server_errors": sum(n for s, n in statuses.items() if s >= 500 or s == 0),
            "unexpected": {k: list(v) for k, v in unexpected.items()}}


@click.command()
@click.option("--url", required=True)
@click.option("--nats", "nats_url", required=True)
@click.option("--inbox", default="_INBOX")
@click.option("--rate", default=90.0)
@click.option("--seconds", default=30.0)
def main(url: str, nats_url: str, inbox: str, rate: float, seconds: float) -> None:
    token = sys.stdin.readline().strip()  # never on argv
    click.echo(json.dumps(asyncio.run(_run(url, nats_url, inbox, token, rate, seconds))))


if __name__ == "__main__":
    main()
