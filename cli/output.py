"""Human output of the CLI: aligned tables, ages, YAML/JSON of exact API objects. Pure functions."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import yaml

from core.kinds import KindInfo

GAP = "   "
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters escaped (`\x1b`): nothing the API returns may drive the terminal
    (the gateway refuses them in new specs; older history may still hold some)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns left-aligned to their widest cell, separated by three spaces (kubectl's look)."""
    cells = [[printable(str(cell)) for cell in row] for row in [headers, *rows]]
    widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=False)]
    lines = [GAP.join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in cells]
    return "\n".join(lines)


def age(created: Any, now: float) -> str:
    """`45s`, `12m`, `3h`, `5d` since `created` (RFC 3339 text or epoch seconds); `<unknown>` otherwise."""
    when = _epoch(created)
    if when is None:
        return "<unknown>"
    seconds = max(0, int(now - when))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _epoch(created: Any) -> float | None:
    if isinstance(created, (int, float)):
        return float(created)
    if isinstance(created, str):
        try:
            return dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def rows_of(info: KindInfo, items: list[dict[str, Any]], now: float, *, namespaces: bool,
            wide: bool = False) -> tuple[list[str], list[list[str]]]:
    headers = (["NAMESPACE"] if namespaces else []) + ["NAME", "PHASE"] + [c.header for c in info.columns]
    headers += (["GENERATION", "VERSION", "LABELS"] if wide else []) + ["AGE"]
    rows = []
    for obj in items:
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        row = ([meta.get("namespace", "")] if namespaces else []) + [meta.get("name", ""), status.get("phase", "")]
        row += [_cell(column.value, obj) for column in info.columns]
        if wide:
            labels = ",".join(f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items()))
            row += [str(meta.get("generation", "")), str(meta.get("resourceVersion", "")), labels or "<none>"]
        rows.append([*row, age(meta.get("createdAt"), now)])
    return headers, rows


def _cell(fn: Any, obj: dict[str, Any]) -> str:
    try:
        return str(fn(obj))
    except (KeyError, TypeError, ValueError, AttributeError):
        return ""


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False)


def scalar(value: Any) -> str:
    """A diff value as one short token: JSON for structures, `<none>` for absent."""
    if value is None:
        return "<none>"
    return printable(value) if isinstance(value, str) else json.dumps(value)
