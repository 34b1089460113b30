"""The image's file set installs and runs (issue #22): exactly what the Dockerfile copies, built into a wheel
and installed into a fresh venv, answers `bosun --help` — no docker engine needed.

Found by trying it as a new user would: the Dockerfile copied neither `cli/` nor `supervisor/`, so every
compose service would have crash-looped on `ModuleNotFoundError: No module named 'cli'`. The wheel's
dependencies come from pip's usual index and cache (about 10 s once cached).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRY_MODULES = ("cli.main", "actors.serving", "projections.projector", "gateway.server", "dataplane.sim.driver",
                 "dataplane.process.driver", "supervisor.tree", "bench", "chaos.rounds", "corpus.bad_inputs")
"""Every component's entry, and the tools the CLI's verbs import (bench's scenarios need its extra)."""

pytestmark = pytest.mark.timeout(300)


def copies(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(source, destination) of every COPY from the build context (not `--from=` another stage)."""
    pairs = []
    for line in dockerfile.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() != "COPY":
            continue
        flags = [w for w in words[1:] if w.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue
        *sources, dest = [w for w in words[1:] if not w.startswith("--")]
        pairs += [(source, dest) for source in sources]
    return pairs


def ignored() -> Callable[[str, list[str]], set[str]]:
    """The basename patterns of .dockerignore (what the build context leaves out)."""
    patterns = [line.strip().removeprefix("**/") for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return shutil.ignore_patterns(*patterns)


def context(into: Path) -> Path:
    """The Dockerfile's file set, laid out as its build stage's WORKDIR sees it."""
    for source, dest in copies():
        target = into / dest if not dest.endswith("/") else into / dest / Path(source).name
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=ignored())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, target)
    return into


def test_the_dockerfile_copies_every_package_the_wheel_ships() -> None:
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {p.rstrip("*") for p in find["include"] if (ROOT / p.rstrip("*")).is_dir()}
    copied = {source for source, _ in copies()}
    assert packages - copied == set(), "COPY every package pyproject.toml ships"
    assert {"pyproject.toml", "README.md"} <= copied, "the build needs both (README.md is the package's readme)"


def test_the_dockerfiles_file_set_installs_and_runs(tmp_path: Path) -> None:
    src = context(tmp_path / "src")
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(src)], tmp_path)
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *map(str, wheels.glob("*.whl"))], tmp_path)

    bosun = str(venv / "bin" / "bosun")
    assert "Bosun: an event-sourced" in run([bosun, "--help"], tmp_path).stdout
    assert "--cluster" in run([bosun, "up", "--help"], tmp_path).stdout
    run([str(venv / "bin" / "python"), "-c", f"import {', '.join(ENTRY_MODULES)}"], tmp_path)

    tools = subprocess.run([bosun, "bench", "burst", "--help"], cwd=tmp_path, capture_output=True, text=True,
                           env=_clean_env(), timeout=60, check=False)
    assert tools.returncode == 1 and "pip install 'bosun[bench]'" in tools.stderr, tools.stderr


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=_clean_env(), timeout=240, check=False)
    assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def _clean_env() -> dict[str, str]:
    """This environment without anything that would let the checkout leak into the fresh venv."""
    leaks = ("PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in leaks and not k.startswith("BOSUN_")}
