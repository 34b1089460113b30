"""The one place what-if looks up kinds: re-point these two functions when the registry changes.

The plan runs every registered controller generically (no kind is special-cased), so a kind added by
`actors.controller.register` (the autoscaler, an example kind) takes part in plans automatically.
"""
from __future__ import annotations

from typing import Any

from actors import controller as _controller
from actors.controller import Controller


def controller_for(kind_key: str) -> Controller[Any] | None:
    return _controller.controller_for(kind_key)


def controllers() -> list[Controller[Any]]:
    return _controller.controllers()
