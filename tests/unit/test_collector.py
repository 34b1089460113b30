"""The collector's settings (`core.collector`, issue 27), in a fresh interpreter: they are process-wide.

Start-up's objects are frozen and young objects are collected every GEN0 allocations; what survives a young
collection is frozen, so the older generations stay empty and a full collection has nothing to walk (a
controller holding 48,000 deployments paused 380-490 ms in one, finding nothing); a cycle frozen while it was
still referenced is freed by the periodic sweep.
"""
from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc, weakref
from core import collector

class Node:
    pass

collector.tune()
assert gc.get_threshold() == (collector.GEN0, collector.OLDER, collector.OLDER)
assert gc.get_freeze_count() > 1000  # the modules, classes and functions loaded so far
frozen = gc.get_freeze_count()
kept = [[] for _ in range(3 * collector.GEN0)]  # past GEN0 allocations: young collections run
assert gc.get_freeze_count() >= frozen + collector.GEN0, (frozen, gc.get_freeze_count())
gc.collect(1)
assert len(gc.get_objects(1)) + len(gc.get_objects(2)) < 100, "survivors left in the older generations"

a, b = Node(), Node()
a.other, b.other = b, a
del a, b
assert gc.collect() >= 2, "a cycle dropped while young is collected as ever"

a, b = Node(), Node()
a.other, b.other = b, a  # a cycle, referenced while young collections run
gone = weakref.ref(a)
more = [[] for _ in range(2 * collector.GEN0)]
del a, b
gc.collect(0)
assert gone() is not None, "frozen: a young collection does not see it"
collector.sweep()
assert gone() is None, "the sweep frees a frozen cycle"
print("ok")
"""


def test_survivors_are_frozen_and_a_sweep_frees_frozen_cycles() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
