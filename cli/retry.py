"""`bosun retry KIND/NAME -n NS`: lift a resource's quarantine (or terminal failure) and decide again.

An audited write (`POST .../retry`, verb `retry`, allowed to whoever may apply the resource): the retry
is an event in the log, so it survives restarts and shows in `bosun history`.
"""
from __future__ import annotations

import click

from cli.base import Settings, fail, namespace_option, pass_settings, reports_errors, split_ref


@click.command()
@click.argument("ref")
@click.argument("name", required=False)
@namespace_option
@pass_settings
@reports_errors
def retry(settings: Settings, ref: str, name: str | None, namespace: str) -> None:
    """Ask a quarantined or failed KIND/NAME to decide again (its spec is unchanged)."""
    info, name = split_ref(ref, name)
    if not name:
        fail("Invalid", "retry needs KIND/NAME")
    assert name is not None
    with settings.client() as client:
        client.retry(info.key, name, namespace=namespace)
    click.echo(f"{info.key}/{name} retrying")
