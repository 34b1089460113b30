"""`bosun watch`: one line per change as it happens, or one JSON object per line (`-o json`) for scripts.

`--timeout D` ends it after D (exit 0), as `/v1/watch?timeoutSeconds=` does on the server.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from cli.base import Settings, kind_info, pass_settings, reports_errors
from cli.wait import Duration

if TYPE_CHECKING:
    from bosun.watching import WatchEvent


@click.command()
@click.argument("kind", required=False)
@click.option("-n", "--namespace")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace (the default without -n).")
@click.option("-l", "--selector")
@click.option("--phase")
@click.option("-o", "--output", type=click.Choice(["json"]),
              help="json: one object per line: {type, seq, object}.")
@click.option("--timeout", type=Duration(), default=None, help="Stop after this long (30s, 5m) [default: never].")
@pass_settings
@reports_errors
def watch(settings: Settings, kind: str | None, namespace: str | None, all_namespaces: bool,
          selector: str | None, phase: str | None, output: str | None, timeout: float | None) -> None:
    """One line per change, as it happens (Ctrl-C to stop)."""
    info = kind_info(kind) if kind else None
    namespace = None if all_namespaces else namespace
    with settings.client() as client:
        try:
            for event in client.watch(info.key if info else None, namespace=namespace, selector=selector,
                                      phase=phase, timeout=timeout):
                click.echo(_json(event) if output == "json" else _line(event.type, event.seq, event.object))
        except KeyboardInterrupt:
            pass


def _json(event: WatchEvent) -> str:
    return json.dumps({"type": event.type, "seq": event.seq, "object": event.object}, separators=(",", ":"))


def _line(event: str, seq: int, obj: dict[str, object]) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    assert isinstance(meta, dict) and isinstance(status, dict)
    return (f"{seq:>8} {event:<8} {str(obj.get('kind', '')).lower()}/{meta.get('name')} "
            f"-n {meta.get('namespace', '')} phase={status.get('phase', '')} "
            f"generation={meta.get('generation', '')}")
