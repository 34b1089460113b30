"""GpuPool: a region's GPUs of one type; the single writer of its allocations."""
from actors.gpupool.actor import CONTROLLER

__all__ = ["CONTROLLER"]
