"""Projections: checkpointed consumers of the log that keep SQLite read models.

Layout (one job per module):
- `reducer`    pure fold of one stored message into a resource row, and the API object of a row
- `timeline`   pure: the history item of one message
- `selectors`  pure: label selector parsing and matching
- `pages`      pure: opaque continue tokens
- `batches`    pure: a batch of messages -> the row, timeline and change writes it implies
- `schema`     SQLite DDL and connections
- `generations` the `gen-N.db` files and the `CURRENT` pointer
- `store`      the writer: one transaction per batch, checkpoint included
- `audit`      the `audit` table: admission decisions (`core.audit.AuditRecord`) as rows
- `readmodel`  the read API the gateway calls
- `projector`  the long-running consumer (`serve`); reads through `core.feed`, acks cumulatively per batch
- `rebuild`    building a fresh generation from sequence 1 and swapping it in
- `telemetry`  spans and metrics of applied batches
"""
