"""`bosun audit`: who did what, allowed or denied, and why (GET /v1/audit; needs the `audit` verb)."""
from __future__ import annotations

import json

import click

from cli.base import Settings, pass_settings, reports_errors
from core.audit import DECISIONS


@click.command()
@click.option("--principal")
@click.option("--decision", type=click.Choice(DECISIONS))
@click.option("--kind")
@click.option("--name")
@click.option("-n", "--namespace")
@click.option("--since", help="RFC 3339 time or epoch seconds.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("-o", "--output", type=click.Choice(["json"]))
@pass_settings
@reports_errors
def audit(settings: Settings, principal: str | None, decision: str | None, kind: str | None, name: str | None,
          namespace: str | None, since: str | None, limit: int, output: str | None) -> None:
    """Admission decisions, newest first."""
    params = {k: v for k, v in {"principal": principal, "decision": decision, "kind": kind, "name": name,
                                "namespace": namespace, "since": since, "limit": limit}.items() if v is not None}
    with settings.client() as client:
        page = client.call("GET", "/v1/audit", params=params)
    if output == "json":
        click.echo(json.dumps(page, indent=2))
        return
    click.echo(f"{'SEQ':>8}  {'PRINCIPAL':<12} {'VERB':<7} {'DECISION':<15} {'RESOURCE':<40} REASON")
    for r in page["items"]:
        resource = f"{r['kind']}/{r['namespace']}/{r['name']}"
        click.echo(f"{r['seq']:>8}  {r['principal']:<12} {r['verb']:<7} {r['decision']:<15} {resource:<40} "
                   f"{r.get('reason', '')}")
