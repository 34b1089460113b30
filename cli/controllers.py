"""`bosun get controllers`: which controller host holds which partitions, its lease expiry, lag, actors."""
from __future__ import annotations

import time
from typing import Any

import click

from cli import output as out


def show(client: Any, output: str | None) -> None:
    body = client.call("GET", "/v1/controllers")
    if output in ("json", "yaml"):
        click.echo(out.to_json(body) if output == "json" else out.to_yaml(body).rstrip())
        return
    items = body.get("items", [])
    if not items:
        click.echo("No controller hosts found.", err=True)
        return
    now = time.time()
    rows = [[i.get("scope") or "main", i["hostId"], str(len(i["partitions"])), _ranges(i["partitions"]),
             f"{max(0.0, i['leaseExpiresAt'] - now):.1f}s", str(i["lag"]), str(i["actors"]),
             ",".join(i.get("kinds") or []) or "-"] for i in items]
    click.echo(out.table(["SCOPE", "HOST", "COUNT", "PARTITIONS", "LEASE", "LAG", "ACTORS", "KINDS"], rows))
    unowned = {"main": body.get("unowned") or [], **(body.get("unownedByScope") or {})}
    for scope, ps in unowned.items():
        if ps:
            click.echo(f"unowned partitions of {scope} (leases expiring): {_ranges(ps)}", err=True)


def _ranges(ps: list[int]) -> str:
    """0,1,2,5 -> 0-2,5"""
    spans: list[list[int]] = []
    for p in sorted(ps):
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans) or "-"
