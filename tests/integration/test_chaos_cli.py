"""`bosun chaos` is wired into the CLI, and options that need #11 (`--sync`, `--cluster`) are detected."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaos.tree import up_supports

BOSUN = str(Path(sys.executable).parent / "bosun")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOSUN, "chaos", *args], capture_output=True, text=True, timeout=120)


def test_the_verbs_are_listed_by_both_entry_points() -> None:
    for out in (run("--help").stdout,
                subprocess.run([sys.executable, "-m", "chaos", "--help"], capture_output=True, text=True,
                               timeout=60).stdout):
        assert all(verb in out for verb in ("run", "linearizable", "soak", "durability")), out


def test_sync_and_cluster_pass_through_only_when_bosun_up_has_them() -> None:
    if up_supports("--sync"):
        pytest.skip("#11 merged: `bosun up --sync` exists, so there is no refusal to see")
    refused = run("run", "--rounds", "1", "--sync", "always")
    assert refused.returncode == 2 and "#11" in refused.stderr
    skipped = run("durability")
    assert skipped.returncode == 0 and skipped.stdout.startswith("skipped"), skipped
