"""`load()`: the registry a process runs with, built once at start from the shipped kinds and BOSUN_KINDS.

The one place kind modules are imported. Each module's `register(...)` call lands in the default
`Registry` (`actors.controller.DEFAULT`); components call `load()` once and hand the result down.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from actors.controller import DEFAULT, Registry

SHIPPED = ("actors.governance", "actors.gpupool", "actors.modeldeployment",
           "actors.autoscaler.actor")
"""The kinds that come with Bosun (companions after the kind they accompany)."""


def extra_modules() -> list[str]:
    """BOSUN_KINDS: comma-separated import paths of more kind modules (how a new kind is plugged in)."""
    return [m.strip() for m in os.environ.get("BOSUN_KINDS", "").split(",") if m.strip()]


def load(modules: Iterable[str] | None = None) -> Registry:
    """Import the shipped kinds and `modules` (default: BOSUN_KINDS); the registry they declared into."""
    for module in (*SHIPPED, *(extra_modules() if modules is None else modules)):
        importlib.import_module(module)
    return DEFAULT
