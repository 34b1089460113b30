"""What every data-plane driver shares: its durable ledger (SQLite), the transactional outbox, the reporting
rules of the ledger (idempotent observations keyed by replica id) and the decoding of a command.

Each driver (`dataplane.sim`, `dataplane.process`) keeps its own tables of what exists and its own rules
for changing them; how it tells the log about a replica, and how it refuses a command it cannot read,
are the same for every driver and live here once.
"""
