"""HTTP probes against a replica's own port: readiness (2xx) and, for autoscaling, its load figure.

A replica is the tenant's code: whatever it answers is input, checked like any request body.
"""
from __future__ import annotations

import math

import httpx

MAX_RPS = 1e12
"""Past this a figure is nonsense, not load; the bound also keeps any sum of figures finite."""


async def ready(client: httpx.AsyncClient, port: int, path: str) -> bool:
    try:
        r = await client.get(f"http://127.0.0.1:{port}{path}")
    except httpx.HTTPError:
        return False
    return 200 <= r.status_code < 300


async def load(client: httpx.AsyncClient, port: int, path: str) -> float | None:
    """The replica's load (requests per second) as it reports it: a bare number, or JSON {"rps": n}; None
    when it answers anything else, a non-finite number included (`inf` once took the whole driver down)."""
    try:
        r = await client.get(f"http://127.0.0.1:{port}{path}")
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    text = r.text.strip()
    try:
        return _figure(float(text))
    except ValueError:
        pass
    try:
        body = r.json()
    except ValueError:
        return None
    value = body.get("rps") if isinstance(body, dict) else None
    return _figure(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _figure(value: float) -> float | None:
    """A usable load figure, or None (non-finite, or beyond any real load: `float(10**400)` would raise)."""
    if isinstance(value, int) and abs(value) > MAX_RPS:
        return None
    number = float(value)
    return max(0.0, number) if math.isfinite(number) and number <= MAX_RPS else None
