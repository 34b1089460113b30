"""The README's "add a kind" example really is a working kind."""
from __future__ import annotations

from pathlib import Path

from actors.registry import load
from core.names import Ref
from tests.simworld import World, pool_spec


def test_example_kind_is_under_50_lines_and_converges() -> None:
    source = Path(__file__).parents[2] / "examples" / "kinds" / "notebook.py"
    assert len([line for line in source.read_text().splitlines() if line.strip()]) < 50
    kinds = load(["examples.kinds.notebook"])
    assert kinds.resolve("notebooks") is kinds.resolve("Notebook")
    w = World()
    pool = Ref("gpupool", "infra", "p")
    nb = Ref("notebook", "team-a", "nb")
    w.apply(pool, pool_spec(2), 1, created=True)
    w.run()
    w.apply(nb, {"image": "jupyter", "pool": "infra/p"}, 1, created=True)
    w.run()
    assert w.states[nb].status.phase == "Ready"
