"""The components' garbage-collector settings (issue 27): young objects collected every GEN0 allocations,
start-up's objects frozen."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_tune_freezes_start_up_and_collects_young_objects_less_often() -> None:
    gc.unfreeze()
    collector.tune()
    assert gc.get_threshold() == (collector.GEN0, collector.OLDER, collector.OLDER)
    assert gc.get_freeze_count() > 1000  # the modules, classes and functions loaded so far


@pytest.mark.usefixtures("restored")
def test_cycles_are_still_collected() -> None:
    collector.tune()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
