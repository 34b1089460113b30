"""`bosun describe`: one object as a human page — summary, spec, conditions, status, recent timeline."""
from __future__ import annotations

import time
from typing import Any

from gateway.output import age, table, to_yaml

CONVENTION = ("phase", "observedGeneration", "conditions")


def render(obj: dict[str, Any], recent: list[dict[str, Any]], now: float | None = None) -> str:
    now = time.time() if now is None else now
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())) or "<none>"
    lines = [
        f"Name:             {meta.get('name', '')}",
        f"Namespace:        {meta.get('namespace', '')}",
        f"Kind:             {obj.get('kind', '')}",
        f"Labels:           {labels}",
        f"Generation:       {meta.get('generation', '')}",
        f"ResourceVersion:  {meta.get('resourceVersion', '')}",
        f"Created:          {meta.get('createdAt', '')} ({age(meta.get('createdAt'), now)} ago)",
        f"Phase:            {status.get('phase', '')} (observed generation {status.get('observedGeneration', '')})",
    ]
    if meta.get("deletionRequested"):
        lines.append("Deletion:         requested")
    lines += ["Spec:", _indent(to_yaml(obj.get("spec") or {}))]
    extra = {k: v for k, v in status.items() if k not in CONVENTION}
    if extra:
        lines += ["Status:", _indent(to_yaml(extra))]
    conditions = [[c.get("type", ""), str(c.get("status", "")), c.get("reason", ""),
                   str(c.get("lastTransitionSeq", "")), c.get("message", "")] for c in status.get("conditions", [])]
    lines += ["Conditions:", _indent(table(["TYPE", "STATUS", "REASON", "SINCE-SEQ", "MESSAGE"], conditions))
              if conditions else "  <none>"]
    events = [[str(e.get("seq", "")), e.get("slice", ""), e.get("type", ""), e.get("summary", "")] for e in recent]
    lines += ["Recent events:", _indent(table(["SEQ", "SLICE", "TYPE", "SUMMARY"], events)) if events else "  <none>"]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.rstrip().splitlines())
