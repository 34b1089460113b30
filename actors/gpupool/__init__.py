"""GpuPool: a region's GPUs of one type; the single writer of its allocations (`actors.gpupool.kind`)."""
