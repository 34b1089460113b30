"""`bosun agent`: one per machine; joins the plane as its node (docs/nodes.md)."""
