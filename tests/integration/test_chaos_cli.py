"""`bosun chaos` is wired into the CLI, and options that need #11 (`--sync`, `--cluster`) are detected."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chaos.tree import up_supports

BOSUN = str(Path(sys.executable).parent / "bosun")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOSUN, "chaos", *args], capture_output=True, text=True, timeout=120)


def test_the_verbs_are_listed_by_both_entry_points() -> None:
    for out in (run("--help").stdout,
                subprocess.run([sys.executable, "-m", "chaos", "--help"], capture_output=True, text=True,
                               timeout=60).stdout):
        assert all(verb in out for verb in ("run", "linearizable", "soak", "durability")), out


def test_sync_and_cluster_are_detected_on_bosun_up() -> None:
    """The chaos verbs pass `--sync`/`--cluster` through only when `bosun up` has them (#11: it does)."""
    assert up_supports("--sync") and up_supports("--cluster")
    assert not up_supports("--no-such-flag")
