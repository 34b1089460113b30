"""The one place what-if looks up kinds: the process's registry (`actors.registry.load`).

The plan runs every registered controller generically (no kind is special-cased), so any kind of the
registry (the autoscaler, an example kind) takes part in plans automatically.
"""
from __future__ import annotations

from typing import Any

from actors.controller import Controller, Registry
from actors.registry import load


def registry() -> Registry:
    return load()


def controller_for(kind_key: str) -> Controller[Any] | None:
    return load().controller_for(kind_key)


def controllers() -> list[Controller[Any]]:
    return load().controllers()


def hosted(kind_key: str) -> bool:
    """True when the kind has an actor (the routing rule of the host)."""
    return load().hosted(kind_key)


def companions(kind_key: str) -> list[Controller[Any]]:
    """The kind's companion controllers (the autoscaler of ModelDeployment): plans run them too."""
    return load().companions(kind_key)
