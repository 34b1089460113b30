"""`bosun cost`: GPU spend per namespace and deployment (GET /v1/cost)."""
from __future__ import annotations

import json

import click

from cli.base import Settings, pass_settings, reports_errors


@click.command()
@click.option("-n", "--namespace", default=None, help="One namespace [default: all].")
@click.option("-o", "--output", type=click.Choice(["json"]))
@pass_settings
@reports_errors
def cost(settings: Settings, namespace: str | None, output: str | None) -> None:
    """Spend rate now, and GPU-hours and cost so far, from the replicas' recorded lifetimes."""
    with settings.client() as client:
        body = client.call("GET", "/v1/cost", params={"namespace": namespace} if namespace else {})
    if output == "json":
        click.echo(json.dumps(body, indent=2))
        return
    rows = [("NAMESPACE", "DEPLOYMENT", "REPLICAS", "GPUS", "COST/HOUR", "GPU-HOURS", "COST")]
    for space in body["items"]:
        for d in space["deployments"]:
            rows.append((space["namespace"], d["name"], str(d["replicas"]), str(d["gpus"]),
                         f"{d['costPerHour']:.2f}", f"{d['gpuHours']:.4f}", f"{d['cost']:.4f}"))
        rows.append((space["namespace"], "(total)", "", "", f"{space['costPerHour']:.2f}",
                     f"{space['gpuHours']:.4f}", f"{space['cost']:.4f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
