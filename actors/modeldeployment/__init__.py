"""ModelDeployment: N replicas of a model placed on matching GpuPools (`actors.modeldeployment.kind`)."""
