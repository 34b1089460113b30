"""YAML bodies loaded with their alias expansion bounded on the node graph, before any object is built.

A YAML alias makes the composed node graph a DAG (or, for a recursive anchor, a cycle): a 324-byte
"billion laughs" has ~80 nodes and 9^9 values once expanded. `gateway.bounds.check` counts expanded
values by walking the constructed documents, so a bomb used to cost the event loop up to its whole budget
(50-150 ms of CPU per request, measured) before it was refused. Here the same budgets (values, text,
depth) are computed on the node graph with each shared node's totals memoized: the cost is linear in the
body's own size, whatever it expands to, and a document within the budgets is then constructed as before.
"""

from __future__ import annotations

from typing import Any

import yaml

from gateway import bounds

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Totals:
    """Expanded values and text of the nodes seen so far (memoized per node: shared aliases count once each
    time they are reached, but are walked once)."""

    def __init__(self) -> None:
        self.memo: dict[int, tuple[int, int]] = {}
        self.open: set[int] = set()

    def of(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        """(values, text bytes) under `node` with aliases expanded; TooComplex past a budget or a cycle."""
        key = id(node)
        known = self.memo.get(key)
        if known is not None:
            return known
        if isinstance(node, yaml.ScalarNode):
            return 1, len(node.value)
        if depth >= bounds.MAX_DEPTH:
            raise bounds.too_complex(f"documents are nested deeper than {bounds.MAX_DEPTH} levels")
        if key in self.open:
            raise bounds.too_complex("documents hold a recursive YAML alias")
        self.open.add(key)
        values, text = 1, 0
        children = node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value]
        if isinstance(node, yaml.MappingNode):
            text += sum(len(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode))
        for child in children:
            v, t = self.of(child, depth + 1)
            values, text = values + v, text + t
            _check(values, text)
        self.open.discard(key)
        self.memo[key] = (values, text)
        return values, text


def _check(values: int, text: int) -> None:
    if values > bounds.MAX_NODES:
        raise bounds.too_complex(f"documents have more than {bounds.MAX_NODES} values (YAML aliases expanded)")
    if text > bounds.MAX_EXPANDED:
        raise bounds.too_complex(
            f"documents hold more than {bounds.MAX_EXPANDED} bytes of text (YAML aliases expanded)"
        )


class Heavy(Exception):
    """The documents are within the budgets but expand to more than the caller's `heavy` values: constructing
    and checking them is worth moving off the event loop (`gateway.offload`)."""


def load_all(data: bytes, heavy: int | None = None) -> list[Any]:
    """Every document of `data`, refused (400 TooComplex) before construction when its expansion is over a
    budget (or `Heavy` past `heavy` values); YAML and decoding errors propagate as PyYAML raises them."""
    loader = _Loader(data)
    try:
        nodes: list[yaml.Node] = []
        values, text = 0, 0
        totals = _Totals()
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            v, t = totals.of(node, 1)
            values, text = values + v, text + t
            _check(values, text)
            nodes.append(node)
        if heavy is not None and values > heavy:
            raise Heavy
        return [loader.construct_document(node) for node in nodes]
    finally:
        loader.dispose()
