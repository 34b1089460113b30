"""`bosun backup FILE` and `bosun restore FILE --data DIR`: a live plane copied as one consistent cut.

What is copied, in this order, each with JetStream's own snapshot (`lifecycle.streams`): the actors'
snapshots and the controllers' checkpoints, the archive's state, the archive, the projection snapshot,
then the stream (with its consumers). Buckets before the stream: every snapshot and checkpoint copied
describes a sequence the copied stream holds, and every write acknowledged before the backup began is at or
below the stream's copied end (the cut). The archive's lease is held throughout, so no segment is written
and nothing is purged between one copy and the next.

Not copied: the leases (who runs what is the new plane's business), the partition-mapped copy (made again
from the stream), the read models (rebuilt from the projection snapshot and the stream), and every secret
(tokens, NATS passwords, the auth callout's key: the restored plane makes its own).

The file is a tar: `bosun-backup.json` (the manifest), then per stream `streams/<name>.json` (its config
and state) and `streams/<name>.tar.s2` (the snapshot, as nats-server wrote it).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import io
import json
import os
import socket
import tarfile
import tempfile
import time
from pathlib import Path

import msgspec
import nats.js.errors

from core import archive, natsserver, objects, subjects
from core import log as corelog
from core.log import Log
from lifecycle import streams
from lifecycle.lease import Lease

FORMAT = 1
MANIFEST = "bosun-backup.json"
STREAMS = (f"KV_{corelog.SNAPSHOTS}", f"KV_{corelog.CHECKPOINTS}", archive.kv_stream(), objects.stream(archive.BUCKET),
           objects.stream(archive.PROJECTIONS), subjects.STREAM)
"""Copied in this order: buckets first, the stream last (see the module's doc)."""
LEASE_WAIT = 120.0


class BackupError(Exception):
    """The backup or the restore cannot be made (the message says why)."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    bosun_backup: int = FORMAT
    version: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    cut: int = 0
    """The stream's last sequence in the copy: every write acknowledged before `startedAt` is at or below it."""
    archive_head: int = 0
    streams: list[str] = []


async def backup(log: Log, path: Path) -> Manifest:
    """Copy the plane `log` is connected to into `path` (written to a temporary name, then renamed)."""
    started = time.time()
    lease = Lease(log, f"backup@{socket.gethostname()}:{os.getpid()}", ttl=30.0)
    await _take(lease)
    renewing = asyncio.ensure_future(_renew(lease))
    partial = path.with_name(path.name + ".partial")
    try:
        copied: list[str] = []
        cut = 0
        with tempfile.TemporaryDirectory(prefix="bosun-backup-") as tmp, tarfile.open(partial, "w") as tar:
            for name in STREAMS:
                blob = Path(tmp) / f"{name}.tar.s2"
                try:
                    with open(blob, "wb") as out:
                        meta = await streams.snapshot(log.nc, name, out, consumers=name == subjects.STREAM)
                except streams.StreamError as e:
                    if "not found" in str(e):
                        continue  # a bucket this plane never made (no retention, no archive)
                    raise BackupError(str(e)) from e
                if name == subjects.STREAM:
                    cut = int(meta["state"].get("last_seq", 0))
                _add_bytes(tar, f"streams/{name}.json", json.dumps(meta).encode())
                tar.add(blob, arcname=f"streams/{name}.tar.s2")
                copied.append(name)
            if subjects.STREAM not in copied:
                raise BackupError(f"no stream {subjects.STREAM} to copy")
            head = (await log.archive.head(max_age=0)).seq
            manifest = Manifest(version=_version(), started_at=started, finished_at=time.time(), cut=cut,
                                archive_head=head, streams=copied)
            _add_bytes(tar, MANIFEST, msgspec.json.encode(manifest))
        os.replace(partial, path)
        return manifest
    finally:
        partial.unlink(missing_ok=True)
        renewing.cancel()
        with contextlib.suppress(Exception):
            await lease.release()


async def _take(lease: Lease) -> None:
    deadline = time.monotonic() + LEASE_WAIT
    while not await lease.acquire():
        if time.monotonic() > deadline:
            holder = lease.other.holder if lease.other else "?"
            raise BackupError(f"the archive's lease is held by {holder}")
        await asyncio.sleep(0.2)


async def _renew(lease: Lease) -> None:
    while True:
        await asyncio.sleep(lease.ttl / 3)
        with contextlib.suppress(Exception):
            await lease.acquire()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mtime = int(time.time())
    tar.addfile(member, io.BytesIO(data))


def _version() -> str:
    try:
        return importlib.metadata.version("bosun")
    except importlib.metadata.PackageNotFoundError:
        return ""


def read_manifest(path: Path) -> Manifest:
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = msgspec.json.decode(member.read(), type=Manifest)
    except (OSError, KeyError, tarfile.TarError, msgspec.DecodeError) as e:
        raise BackupError(f"{path} is not a Bosun backup: {e}") from e
    if manifest.bosun_backup > FORMAT:
        raise BackupError(f"backup format {manifest.bosun_backup} is newer than this Bosun reads ({FORMAT})")
    return manifest


async def restore(path: Path, data: Path, nats_server: str | None = None) -> Manifest:
    """Restore the backup into a new data directory `data`, on a nats-server of its own that is stopped
    again afterwards: `bosun up --data DIR` then serves the restored plane."""
    manifest = read_manifest(path)
    store = data / "nats"
    if store.exists() and any(store.iterdir()):
        raise BackupError(f"{data} already holds a store: restore into a new data directory")
    data.mkdir(parents=True, exist_ok=True)
    server = natsserver.start(data, port=0, creds=None, executable=nats_server)
    try:
        nc = await corelog.connect(server.url(), "bosun-restore")
        try:
            with tarfile.open(path) as tar:
                for name in manifest.streams:
                    meta = json.loads(_member(tar, f"streams/{name}.json"))
                    meta["config"]["num_replicas"] = 1
                    member = tar.extractfile(f"streams/{name}.tar.s2")
                    if member is None:
                        raise BackupError(f"{path} lacks streams/{name}.tar.s2")
                    try:
                        await streams.restore(nc, meta, member)
                    except streams.StreamError as e:
                        raise BackupError(f"restoring {name}: {e}") from e
            lg = Log(nc)
            if archive.kv_stream() in manifest.streams:  # the backup's own lease means nothing here
                with contextlib.suppress(nats.js.errors.Error):
                    await lg.kv_put(archive.BUCKET, archive.LEASE, b"{}")
        finally:
            await nc.close()
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            (data / "nats.conf").unlink()
    return manifest


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise BackupError(f"backup lacks {name}")
    return member.read()
