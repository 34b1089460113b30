"""The Node manifest's spec: what a user may say about a machine (the agent says the rest)."""
from __future__ import annotations

import msgspec

from core.nodes import Labels


class NodeSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
               forbid_unknown_fields=True):
    unschedulable: bool = False
    """Cordoned: no new replica is placed on it (`bosun cordon node/NAME`); what runs there runs on."""
    drain: bool = False
    """Draining (`bosun drain node/NAME`): each replica on it is replaced elsewhere, make-before-break, then
    stopped; a draining node is never schedulable. `bosun uncordon` clears it with `unschedulable`."""
    labels: Labels = msgspec.field(default_factory=dict)
    """Extra labels, over the agent's own (`--labels`, GPU discovery): a pool's `nodeSelector` reads both."""
