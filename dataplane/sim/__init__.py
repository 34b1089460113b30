"""The `sim` data-plane driver: simulated GPU pools and replicas in a durable SQLite world.

`serve` runs the driver; `kill_replica` and `world_summary` inspect or tamper with the world directly
(not through NATS), as an operator, a chaos test or a benchmark would.
"""
from dataplane.sim.driver import serve
from dataplane.sim.store import kill_replica, world_summary

__all__ = ["kill_replica", "serve", "world_summary"]
