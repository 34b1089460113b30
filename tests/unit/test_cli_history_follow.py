"""`bosun history --follow` keeps asking for entries after the last one it printed."""
from __future__ import annotations

from typing import Any

from cli.replay import follow_history


class _Client:
    def __init__(self) -> None:
        self.pages = [[{"seq": 5}], [], [{"seq": 7}, {"seq": 9}]]
        self.asked: list[int] = []

    def history(self, kind: str, name: str, *, namespace: str, since: int, types: Any) -> dict[str, Any]:
        self.asked.append(since)
        if not self.pages:
            raise KeyboardInterrupt
        return {"items": self.pages.pop(0), "continue": None}


def test_follow_prints_only_new_entries_and_stops_on_interrupt() -> None:
    client, printed = _Client(), []
    follow_history(client, "md", "demo", "chat", 3, None, printed.extend, interval=0)  # type: ignore[arg-type]
    assert client.asked == [3, 5, 5, 9]
    assert [e["seq"] for e in printed] == [5, 7, 9]
