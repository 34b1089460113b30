"""The `process` data-plane driver: each replica is a real OS process on this machine.

`serve` runs the driver; `summary` lists what it runs; `store.log_file` is where a replica's output goes.
"""
from dataplane.process.driver import serve
from dataplane.process.store import summary

__all__ = ["serve", "summary"]
