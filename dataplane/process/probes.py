"""HTTP probes against a replica's own port: readiness (2xx) and, for autoscaling, its load figure."""
from __future__ import annotations

import httpx


async def ready(client: httpx.AsyncClient, port: int, path: str) -> bool:
    try:
        r = await client.get(f"http://127.0.0.1:{port}{path}")
    except httpx.HTTPError:
        return False
    return 200 <= r.status_code < 300


async def load(client: httpx.AsyncClient, port: int, path: str) -> float | None:
    """The replica's load (requests per second) as it reports it: a bare number, or JSON {"rps": n}."""
    try:
        r = await client.get(f"http://127.0.0.1:{port}{path}")
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    text = r.text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        body = r.json()
    except ValueError:
        return None
    value = body.get("rps") if isinstance(body, dict) else None
    return max(0.0, float(value)) if isinstance(value, (int, float)) else None
