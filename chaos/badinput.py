"""The bad-input corpus (issue #13's `corpus/bad_inputs.py`) replayed in a loop while good clients work.

The cases are passed in (the chaos checkers stay independent of one corpus): anything with
`method, path, status, headers, body` is an HTTP case, anything with `subject, status, headers, body` a NATS
one; `{token}` in a header is the real token. Counted: 5xx answers (must be none) and answers other than
the case's expected status.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.door import Door

PLACEHOLDER = "{token}"


@dataclass
class Noise:
    sent: int = 0
    server_errors: int = 0
    unexpected: list[tuple[str, int, int]] = field(default_factory=list)
    """(case name, expected status, answered status), first occurrences only."""


def _headers(headers: dict[str, str], token: str) -> dict[str, str]:
    return {k: v.replace(PLACEHOLDER, token) for k, v in headers.items()}


async def _one(door: Door, case: Any, noise: Noise) -> None:
    headers = _headers(case.headers, door.token)
    if hasattr(case, "subject"):
        assert door.nc is not None
        try:
            msg = await door.nc.request(case.subject, case.body, timeout=door.timeout, headers=headers)
            status = int((msg.headers or {}).get("Bosun-Status", "0"))
        except Exception:  # noqa: BLE001 - no answer at all is counted as a wrong one
            status = 0
    else:
        raw = {k.encode(): v.encode() for k, v in headers.items()}  # some cases carry non-ASCII header values
        request = door.http.build_request(case.method, case.path, content=case.body, headers=raw)
        if "Authorization" not in headers:
            del request.headers["Authorization"]  # the client's default token: this case has none
        try:
            status = (await door.http.send(request)).status_code
        except httpx.HTTPError:
            status = 0
    noise.sent += 1
    noise.server_errors += status >= 500
    if status != case.status and not any(u[0] == case.name for u in noise.unexpected):
        noise.unexpected.append((case.name, case.status, status))


async def replay(door: Door, cases: Sequence[Any], stop: asyncio.Event, concurrency: int = 4) -> Noise:
    """Send the cases round-robin from `concurrency` tasks until `stop`."""
    noise = Noise()

    async def worker(offset: int) -> None:
        i = offset
        while not stop.is_set():
            await _one(door, cases[i % len(cases)], noise)
            i += concurrency

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return noise
