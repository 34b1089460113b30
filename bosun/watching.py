"""The client side of `/v1/watch`, pure: Server-Sent Event lines in, `WatchEvent`s out, and the `Waiter`
that turns a stream of events into where each awaited resource stands (shared by both clients)."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from bosun.readiness import Target, Verdict, judge

CLUSTER = "_cluster"
KindKey = Callable[[str], tuple[str, bool]]
"""A kind as written (`md`, `ModelDeployment`) -> (its singular name, namespaced?)."""


class WatchEvent(NamedTuple):
    type: str
    """ADDED, MODIFIED, DELETED; BOOKMARK (asked with `bookmarks=True`) once the initial state is sent."""
    seq: int
    object: dict[str, Any]


class SSE:
    """Feed it the stream's lines one by one; it returns an event at each blank line that ends one."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def feed(self, line: str) -> WatchEvent | None:
        if line.startswith(":"):
            return None
        if line:
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            self.fields[key] = f"{self.fields[key]}\n{value}" if key == "data" and key in self.fields else value
            return None
        fields, self.fields = self.fields, {}
        if "data" not in fields:
            return None
        seq = fields.get("id", "0")
        return WatchEvent(fields.get("event", "MODIFIED"), int(seq) if seq.isdigit() else 0,
                          json.loads(fields["data"]))


class Waiter:
    """Where each target stands, from the events of one watch on all of them (`refs`).

    Call `begin()` whenever a stream (re)starts: its initial state, then a BOOKMARK, tell which targets
    are absent. A failure is final; `finished` once every target is ready, gone or failed.
    """

    def __init__(self, targets: Sequence[Target], kind_key: KindKey) -> None:
        self.targets = list(targets)
        self.verdicts = [Verdict("waiting", "Watching", "") for _ in self.targets]
        self.index: dict[tuple[str, str, str], int] = {}
        self.refs: list[str] = []
        for i, t in enumerate(self.targets):
            singular, namespaced = kind_key(t.kind)
            namespace = t.namespace if namespaced else CLUSTER
            self.index[(singular, namespace, t.name)] = i
            self.refs.append(f"{singular}/{t.namespace}/{t.name}")
        self.seen: set[int] = set()

    def begin(self) -> None:
        self.seen = set()

    def feed(self, event: WatchEvent) -> bool:
        """Take one event; True when some target's verdict changed."""
        if event.type == "BOOKMARK":  # the listing is complete: who was not in it is absent
            changed = False
            for i in range(len(self.targets)):
                if i not in self.seen:
                    changed = self._set(i, None) or changed
            return changed
        meta = event.object.get("metadata") or {}
        key = (str(event.object.get("kind", "")).lower(), meta.get("namespace") or CLUSTER, meta.get("name", ""))
        found = self.index.get(key)
        if found is None:
            return False
        self.seen.add(found)
        deleted = event.type == "DELETED"
        return self._set(found, None if deleted else event.object, deleted)

    def _set(self, i: int, obj: dict[str, Any] | None, deleted: bool = False) -> bool:
        if self.verdicts[i].state == "failed":
            return False
        verdict = judge(self.targets[i], obj, deleted)
        changed, self.verdicts[i] = verdict != self.verdicts[i], verdict
        return changed

    @property
    def finished(self) -> bool:
        return all(v.done for v in self.verdicts)

    @property
    def failed(self) -> bool:
        return any(v.state == "failed" for v in self.verdicts)

    def results(self) -> list[tuple[Target, Verdict]]:
        return list(zip(self.targets, self.verdicts, strict=True))
