"""Helpers for tests that run real replica processes: find them by their environment, end them all.

Every replica the process driver starts carries its driver's marker (`BOSUN_PROCESS_DRIVER` = the
driver's directory), so a test can see exactly which replicas run (by `BOSUN_REPLICA`) and its finaliser
can end every one of them, whatever happened to the driver.
"""
from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from dataplane.process import fence, procs, store

SERVER = str(Path(__file__).resolve().parents[1] / "examples" / "process" / "model_server.py")
PYTHON = shutil.which("python3", path=fence.SAFE_PATH) or sys.executable
"""An interpreter any replica user can run (this venv's may live under a home directory only root can
enter); the stand-in server needs nothing but the standard library."""


def running(data_dir: Path) -> dict[str, dict[str, str]]:
    """BOSUN_REPLICA -> the replica process's Bosun environment (plus "pid"), for live replicas only."""
    found: dict[str, dict[str, str]] = {}
    for f in procs.scan(str(store.home(data_dir))):
        try:
            raw = (procs.PROC / str(f.identity.pid) / "environ").read_bytes()
        except OSError:
            continue
        env = dict(v.decode().split("=", 1) for v in raw.split(b"\0") if b"=" in v)
        rid = env.get("BOSUN_REPLICA", "")
        if rid in found:  # two live processes for one replica id: the bug these tests exist to catch
            raise AssertionError(f"replica {rid} runs twice: pids {found[rid]['pid']} and {f.identity.pid}")
        found[rid] = {k: v for k, v in env.items() if k.startswith(("BOSUN_", "CUDA_"))} | {
            "pid": str(f.identity.pid)}
    return found


def end_all(data_dir: Path, timeout: float = 10.0) -> None:
    """SIGKILL every replica process of this driver and wait until none is left, then remove their directories
    (a finaliser)."""
    deadline = time.monotonic() + timeout
    while True:
        left = list(procs.scan(str(store.home(data_dir))))
        if not left:
            shutil.rmtree(fence.default(data_dir).root, ignore_errors=True)
            return
        for f in left:
            procs.signal_group(f.identity, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise AssertionError(f"replica processes survived SIGKILL: {[f.identity.pid for f in left]}")
        time.sleep(0.01)  # a deadline-bounded poll for the kernel to reap them


def server_command(*extra: str) -> list[str]:
    return [PYTHON, SERVER, *extra]


def shared_dir() -> Path:
    """A directory a replica's own user can read (tmp_path is under root's 0700 pytest directory): for files a
    test changes while replicas read them. The caller removes it."""
    folder = Path(tempfile.mkdtemp(prefix="bosun-test-shared-"))
    folder.chmod(0o755)
    return folder


def write_shared(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o644)
