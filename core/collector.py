"""The garbage collector's settings for Bosun's long-running components (issue 27).

Python collects its youngest generation every 700 net allocations of container objects. An asyncio
component allocates futures, tasks, handles, messages and events by the thousand per second, most of them
alive when a collection runs (in flight), so every collection walks them again: in a controller
converging 2,000 deployments, ~600 young collections and 5 full ones took 0.5-0.9 s of its ~3.3 s of CPU
(`bench/RESULTS.md`). Refcounting frees nearly everything these components drop; the collector is only
for cycles, which are rare here. So the youngest generation is collected every GEN0 allocations
instead, and what start-up allocated (modules, classes, the registry) is frozen: never garbage, never
walked again by a full collection. Memory: at most GEN0 more young objects before a collection, a few MB
at worst.
"""
from __future__ import annotations

import gc

GEN0 = 10_000
"""Net container allocations between two collections of the youngest generation (Python's default: 700)."""
OLDER = 10
"""Collections of a generation between two of the next (Python's default, kept)."""


def tune() -> None:
    """Call once a component has started up: freeze what exists, collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0, OLDER, OLDER)
