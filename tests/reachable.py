"""Can the replicas' own users reach this checkout? `make test` asks before running the suite.

Run as root, the process driver starts each replica as an unprivileged uid of its own (docs/security.md), and
the suite's replicas run `examples/process/model_server.py` from the checkout. A checkout inside a `0700`
directory (`mktemp -d`'s, some home directories) is out of their reach: then the suite runs from a copy of the
checkout in a directory they can enter (`--stage` prints it), rather than fail every replica test with
"Permission denied" or loosen the user's directory.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(".venv", ".bosun", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")


def reachable(path: Path = ROOT) -> bool:
    """Another user can enter every directory down to `path` (only a root run starts replicas as others)."""
    return os.geteuid() != 0 or all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))


def stage() -> Path:
    """A fresh copy of the checkout (its git history included) that every user can enter."""
    base = Path(tempfile.gettempdir()) / f"bosun-suite-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(ROOT, base, ignore=LEFT_OUT, symlinks=True)
    for where, _dirs, files in os.walk(base):
        os.chmod(where, 0o755)
        for name in files:
            path = os.path.join(where, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | 0o444)
    return base


if __name__ == "__main__":
    if "--stage" in sys.argv:
        print(stage())
    else:
        sys.exit(0 if reachable() else 1)
