"""The tool verbs' extras: `bosun bench` and `bosun chaos` say how to install what they need, not a traceback.

Their code ships with the CLI, their own dependencies do not (`pip install 'bosun[bench]'`). The extra's
requirements are read from the installed distribution's metadata, so `pyproject.toml` stays the one list.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata

import click

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def extra_requirements(requires: Iterable[str], extra: str) -> list[str]:
    """Distribution names that `extra` adds, from `Requires-Dist` lines (`aiohttp>=3.9; extra == "bench"`)."""
    names = []
    for line in requires:
        _spec, _, marker = line.partition(";")
        found = _NAME.match(line.strip())
        if found and re.search(rf"""extra\s*==\s*["']{re.escape(extra)}["']""", marker):
            names.append(found.group())
    return names


def missing(extra: str, distribution: str = "bosun") -> list[str]:
    """The distributions of `extra` that are not installed (none when Bosun itself is not installed)."""
    try:
        requires = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return []
    absent = []
    for name in extra_requirements(requires, extra):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            absent.append(name)
    return absent


def require(extra: str) -> None:
    """Stop with the install command when the extra `extra` is not installed."""
    absent = missing(extra)
    if absent:
        raise click.ClickException(
            f"`bosun {extra}` needs the optional packages {', '.join(absent)}: pip install 'bosun[{extra}]' "
            f"(from a clone: pip install -e '.[{extra}]')")
