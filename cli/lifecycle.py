"""`bosun log info`, `bosun backup FILE`, `bosun restore FILE --data DIR` and the `bosun archiver` component
(docs/lifecycle.md)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from cli import output as out
from cli.base import Settings, duration, environment, fail, pass_settings, reports_errors
from cli.components import (
    as_component,
    data_dir,
    data_option,
    metrics_option,
    nats_option,
    serve_until_signalled,
)


@click.group("log")
def log_group() -> None:
    """The log itself: stream, archive, retention."""


@log_group.command("info")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), default=None)
@pass_settings
@reports_errors
def info(settings: Settings, output: str | None) -> None:
    """Stream and archive ranges and sizes, the retention, the oldest unarchived message and why."""
    with settings.client() as client:
        body = client.call("GET", "/v1/log")
    if output in ("json", "yaml"):
        click.echo(out.to_json(body) if output == "json" else out.to_yaml(body).rstrip())
        return
    click.echo(describe(body))


def describe(body: dict[str, Any]) -> str:
    arch = body.get("archive") or {}
    lines = [f"stream:    seq {body['firstSeq']}..{body['lastSeq']}, {body['messages']} messages, "
             f"{_size(body['bytes'])}",
             f"retention: {body.get('retain') or 'none (the stream keeps everything)'}",
             "archive:   " + (f"seq {arch['firstSeq']}..{arch['lastSeq']}, {arch['messages']} messages in "
                              f"{arch['segments']} segments, {_size(arch['bytes'])}" if arch.get("segments")
                              else "empty")]
    oldest = body.get("oldestUnarchived")
    if oldest:
        held = oldest.get("heldBy") or {}
        why = f"{held.get('kind')} {held.get('name')}: {held.get('detail')}" if held else "nothing: next pass"
        lines.append(f"oldest unarchived: seq {oldest['seq']}, held by {why}")
        for hold in body.get("holds") or []:
            lines.append(f"  hold: {hold['kind']} {hold['name']} at seq {hold['seq']}: {hold.get('detail', '')}")
    if body.get("pausedBy"):
        lines.append(f"paused by: {body['pausedBy']}")
    return "\n".join(lines)


def _size(n: int) -> str:
    size, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--nats", "nats_url", default=None, metavar="URL",
              help="The plane's NATS [default: BOSUN_NATS_URL, else <data>/connection.json's].")
@data_option
def backup(file: Path, nats_url: str | None, data: Path | None) -> None:
    """Copy a live plane into FILE: stream, archive, snapshots and checkpoints as one consistent cut."""
    from lifecycle import backup as lifecycle_backup

    url = _plane_nats(nats_url, data_dir(data))

    async def run() -> lifecycle_backup.Manifest:
        from core import log as corelog

        nc = await corelog.connect(url, "bosun-backup")
        try:
            return await lifecycle_backup.backup(corelog.Log(nc), file)
        finally:
            await nc.close()

    try:
        manifest = asyncio.run(run())
    except lifecycle_backup.BackupError as e:
        fail("BackupFailed", str(e))
    click.echo(f"backup {file}: stream through seq {manifest.cut}, archive through seq {manifest.archive_head}, "
               f"{len(manifest.streams)} streams")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "target", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new data directory: `bosun up --data DIR` then serves the restored plane.")
def restore(file: Path, target: Path) -> None:
    """Restore a backup into a new data directory (secrets are new: a fresh admin token and NATS users)."""
    from lifecycle import backup as lifecycle_backup

    try:
        manifest = asyncio.run(lifecycle_backup.restore(file, target, environment().nats_server))
    except lifecycle_backup.BackupError as e:
        fail("RestoreFailed", str(e))
    click.echo(f"restored {file} into {target}: stream through seq {manifest.cut}; "
               f"start it with `bosun up --data {target}`")


def _plane_nats(nats_url: str | None, data: Path) -> str:
    """The plane's NATS as the backup user (`<data>/nats-credentials.json`), from --nats, BOSUN_NATS_URL or
    `<data>/connection.json`."""
    from core import natscreds

    env = environment()
    url = nats_url or env.nats_url
    if not url:
        conn = data / "connection.json"
        if not conn.exists():
            fail("NoServer", f"no NATS: pass --nats or run `bosun up` (no {conn})")
        url = str(json.loads(conn.read_text())["nats"])
    creds = env.nats_credentials or (str(data / "nats-credentials.json")
                                     if (data / "nats-credentials.json").exists() else None)
    return natscreds.url_for(url, "backup", creds)


@click.command("archiver")
@nats_option()
@click.option("--retain", required=True, default=lambda: environment().retain, metavar="DURATION", callback=duration,
              help="Archive messages older than this (e.g. 30d) [default: BOSUN_RETAIN].")
@click.option("--segment-messages", type=click.IntRange(1, 100_000), default=4096, show_default=True,
              help="Messages per archive segment at most.")
@metrics_option
def archiver(nats_url: str, retain: str, segment_messages: int, metrics_port: int | None) -> None:
    """Run the archiver: messages older than --retain move to the archive, then leave the stream."""
    from core import durations
    from lifecycle import archiver as lifecycle_archiver

    seconds = durations.parse(retain)
    env = environment()
    nats_url = as_component(nats_url, "archiver", env)
    serve_until_signalled("archiver", lambda stop: lifecycle_archiver.serve(
        nats_url, stop=stop, retain=seconds, settings=env, segment_messages=segment_messages), metrics_port, env)


COMMANDS = (log_group, backup, restore, archiver)
