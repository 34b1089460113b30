"""How a replica is fenced in: the user it runs as, the directory it runs in, the environment it gets.

A replica runs a tenant's code. When the driver runs as root (CI, containers), each namespace's replicas
run as a uid of their own, allocated once from `uids` and recorded in the driver's database (no
/etc/passwd entry needed), with the same gid and no supplementary groups: they cannot read Bosun's data
directory (0700 root), the driver's environment (`/proc/<pid>/environ` is its owner's), nor another
namespace's replicas. Each replica works in a fresh directory of its own (0700, its own), under a root
outside the data directory so that its absolute path is usable (`$HOME` is it). Its environment is built
from nothing: a fixed PATH, HOME, the locale, the spec's `env` (admission refuses loader and interpreter
variables) and Bosun's variables.

Not root: replicas run as the driver's user, in their own directory, with the same clean environment;
they can read what that user can (docs/security.md says how to get more).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dataplane.base.store import transaction

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
LOCALE = ("LANG", "LC_ALL", "TZ")
"""The driver's variables a replica inherits: locale and time zone, nothing that could hold a secret."""
UIDS = range(61_000, 71_000)
"""Default uids for namespaces: inside the 16-bit range a user namespace maps (rootless containers), above
the usual human and system ids, below `nobody` (65534 is skipped)."""
NOBODY = 65_534


class FenceError(Exception):
    """A replica cannot be fenced as configured (its start fails with this reason; nothing runs unfenced)."""


@dataclass(frozen=True)
class Fence:
    root: Path
    """Where replicas' own directories are made: `<root>/<namespace>/<name>/<replica>`."""
    drop: bool
    """Run replicas as another user (the driver is root)."""
    uids: range = UIDS
    user: int | None = None
    """One uid (and gid) for every replica instead of one per namespace."""

    def uid(self, conn: sqlite3.Connection, namespace: str) -> int | None:
        """The uid `namespace`'s replicas run as (None: the driver's own)."""
        if not self.drop:
            return None
        return self.user if self.user is not None else tenant_uid(conn, namespace, self.uids)

    def workdir(self, namespace: str, name: str, replica: str, uid: int | None) -> Path:
        """A fresh, empty directory for one start of `replica`, owned by `uid` (mode 0700)."""
        parent = self.root / namespace / name
        self.root.parent.mkdir(parents=True, exist_ok=True)
        for d in (self.root, self.root / namespace, parent):
            _private_dir(d, 0o711 if self.drop else 0o700)
        work = parent / replica
        shutil.rmtree(work, ignore_errors=True)  # fd-based: safe against symlinks planted inside
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        return work

    def clear(self, namespace: str, name: str, replica: str) -> None:
        """The replica is gone: its directory too, and the folders above it once they are empty (nothing of a
        finished deployment is left lying in /var/tmp)."""
        shutil.rmtree(self.root / namespace / name / replica, ignore_errors=True)
        for empty in (self.root / namespace / name, self.root / namespace, self.root):
            try:
                os.rmdir(empty)
            except OSError:  # not empty (other replicas), or gone already
                return


def default(data_dir: Path, drop: bool | None = None) -> Fence:
    """Root: replicas under /var/tmp (a path any uid can walk), one root per data directory; otherwise under
    `<data>/process/work` (the data directory is the driver's user's, and so are the replicas)."""
    drop = os.geteuid() == 0 if drop is None else drop
    if not drop:
        return Fence(Path(data_dir).resolve() / "process" / "work", False)
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
    base = Path("/var/tmp") if Path("/var/tmp").is_dir() else Path("/tmp")
    return Fence(base / f"bosun-replicas-{digest}", True)


def tenant_uid(conn: sqlite3.Connection, namespace: str, uids: range) -> int:
    """The namespace's uid: allocated on first use (the lowest free one of `uids`), the same ever after
    (`tenants` in the driver's database)."""
    row = conn.execute("SELECT uid FROM tenants WHERE namespace = ?", (namespace,)).fetchone()
    if row is not None:
        return int(row[0])
    with transaction(conn) as c:
        row = c.execute("SELECT uid FROM tenants WHERE namespace = ?", (namespace,)).fetchone()
        if row is not None:
            return int(row[0])
        taken = {int(r[0]) for r in c.execute("SELECT uid FROM tenants")}
        free = next((u for u in uids if u not in taken and u != NOBODY), None)
        if free is None:
            raise FenceError(f"no free replica uid left in {uids.start}-{uids.stop - 1} for namespace {namespace}")
        c.execute("INSERT INTO tenants (namespace, uid) VALUES (?, ?)", (namespace, free))
        return free


def environment(spec_env: Mapping[str, str], bosun: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """A replica's whole environment: nothing of the driver's but the locale, then the spec's, then Bosun's."""
    base = {"PATH": SAFE_PATH, "HOME": str(workdir)}
    base.update({k: os.environ[k] for k in LOCALE if k in os.environ})
    return {**base, **spec_env, **bosun}


def executable(argv: tuple[str, ...]) -> list[str]:
    """`argv` with a relative command path (one with a slash, e.g. `examples/process/model_server.py`) made
    absolute against the driver's directory: the replica itself runs in its own directory."""
    first = argv[0]
    if "/" in first and not os.path.isabs(first):
        first = os.path.abspath(first)
    return [first, *argv[1:]]


def _private_dir(path: Path, mode: int) -> None:
    """`path` as a real directory of ours with exactly `mode`; FenceError when something else holds the name
    (under a world-writable /var/tmp, another user may have planted it)."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise FenceError(f"{path} is not a directory owned by the driver's user: remove it, or choose another "
                         "root for replica directories (--replica-root)")
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
