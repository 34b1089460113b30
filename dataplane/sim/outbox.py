"""The transactional outbox, shared by every driver: see `dataplane.base.outbox` (kept importable here)."""
from dataplane.base.outbox import BATCH, Outbox, Row, add, pending, sent

__all__ = ["BATCH", "Outbox", "Row", "add", "pending", "sent"]
