"""ModelDeployment: N replicas of a model placed on matching GpuPools."""
from actors.modeldeployment.actor import CONTROLLER

__all__ = ["CONTROLLER"]
