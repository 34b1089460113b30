"""Bounds on a decoded request document, checked before anything walks, expands or validates it.

A YAML alias is a reference: a 340-byte "billion laughs" loads as a small shared graph and explodes only
when something walks it (validation, diffing, encoding a reply). Deeply nested JSON decodes fine in C and
then exhausts Python's recursion in the first recursive walk (a 500). So one iterative walk, with
aliases expanded, enforces a node budget, an expanded-size budget and a depth limit, and stops as soon
as one is passed: a bomb costs at most the budget. The same walk refuses control characters in strings
(NUL, ESC sequences), which `bosun get` would otherwise print raw to a terminal.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.errors import ApiError, ErrorDetail, invalid

MAX_DEPTH = 32
"""Nesting depth of any document (the shipped specs are 4 deep; Kubernetes-style specs stay under 20)."""
MAX_NODES = 100_000
"""Values (not keys) in the documents with aliases expanded: a 1 MiB body of small manifests has ~70k."""
MAX_EXPANDED = 4 << 20
"""Bytes of strings with aliases expanded: four times the largest body."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 and C1 controls but tab, newline and carriage return (ESC is \\x1b, CSI \\x9b)."""


def too_complex(message: str) -> ApiError:
    return ApiError(400, "TooComplex", message, [ErrorDetail("$", message)])


def check(docs: list[Any]) -> None:
    """Raise 400 TooComplex past a budget, 422 Invalid for a string with control characters."""
    nodes = 0
    size = 0
    stack: list[tuple[Any, int, str]] = [(doc, 1, "$") for doc in docs]
    while stack:
        value, depth, path = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise too_complex(f"documents have more than {MAX_NODES} values (YAML aliases expanded)")
        if isinstance(value, str):
            size += len(value)
            if size > MAX_EXPANDED:
                raise too_complex(
                    f"documents hold more than {MAX_EXPANDED} bytes of text (YAML aliases expanded)"
                )
            if _CONTROL.search(value):
                raise invalid([ErrorDetail(path, "control characters are not allowed in strings")])
            continue
        if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
            raise too_complex(f"documents are nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):  # keys are scalars: never an expansion, but text all the same
                    size += len(key)
                    if _CONTROL.search(key):
                        raise invalid(
                            [ErrorDetail(path, f"control characters are not allowed in keys ({key!r})")]
                        )
                stack.append((item, depth + 1, f"{path}.{key}" if len(path) < 512 else path))
        elif isinstance(value, list):
            stack.extend(
                (item, depth + 1, f"{path}[{i}]" if len(path) < 512 else path) for i, item in enumerate(value)
            )
