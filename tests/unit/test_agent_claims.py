"""`bosun agent --join-dir`: each live agent holds a join file of its own; a restarted one takes the same again."""
from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.agent import claims


def test_two_agents_never_take_one_join_file_and_a_restart_takes_its_own_again(tmp_path: Path) -> None:
    joins = tmp_path / "joins"
    joins.mkdir()
    for i in (1, 2):
        (joins / f"agent-{i}.json").write_text("{}")
    first, held_first = claims.claim(joins, tmp_path / "a")
    second, held_second = claims.claim(joins, tmp_path / "b")
    assert {first.name, second.name} == {"agent-1.json", "agent-2.json"}
    with pytest.raises(claims.NoneFree, match="join one more node"):
        claims.claim(joins, tmp_path / "c")
    held_first.close()  # the first agent dies: the kernel lets go of its lock
    held_second.close()
    again, held = claims.claim(joins, tmp_path / "b")  # b restarts first: its own file, not the first free one
    assert again == second
    held.close()
