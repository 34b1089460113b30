"""The Node kind: one machine running a `bosun agent` (docs/nodes.md)."""
