"""Node: the kind's API facts and its actor (a machine running `bosun agent`, docs/nodes.md)."""
from __future__ import annotations

import time
from typing import Any

from actors.kind import Kind
from actors.node import model
from actors.node.spec import NodeSpec
from core.kinds import Column
from core.nodes import OBSERVATIONS, VERDICTS, NodeView


def _status(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("status") or {}


def _labels(o: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((_status(o).get("labels") or {}).items())) or "<none>"


def _gpus(o: dict[str, Any]) -> str:
    s = _status(o)
    return f"{s.get('allocatedGpus', 0)}/{s.get('totalGpus', 0)}"


def _schedulable(o: dict[str, Any]) -> str:
    """`true`, `false` (cordoned), or `false (Draining|Drained)` while `bosun drain` holds it."""
    spec = o.get("spec") or {}
    if spec.get("drain"):
        return f"false ({(_status(o).get('drain') or {}).get('phase', 'Draining')})"
    return "false" if spec.get("unschedulable") else "true"


def _heartbeat(o: dict[str, Any]) -> str:
    at = _status(o).get("heartbeatTime") or 0
    if not at:
        return "<never>"
    age = max(0.0, time.time() - float(at))
    return f"{age:.0f}s" if age < 120 else f"{age / 60:.0f}m" if age < 7200 else f"{age / 3600:.0f}h"


NODE = Kind(
    name="Node", spec=NodeSpec, state=model.Node, evolve=model.evolve, decide=model.decide,
    events=(*OBSERVATIONS, *VERDICTS), controller=model.CONTROLLER_NAME, cluster_scoped=True, governance=True,
    view=model.view, view_type=NodeView,
    short_names=("no",),
    # `bosun get nodes`: NAME, PHASE (the node's status: Ready|NotReady), then these, then AGE.
    columns=(
        Column("SCHEDULABLE", _schedulable),
        Column("LABELS", _labels),
        Column("GPUS", _gpus),
        Column("REPLICAS", lambda o: _status(o).get("replicas", 0)),
        Column("HEARTBEAT", _heartbeat),
    ),
)
