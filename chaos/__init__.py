"""Chaos rounds, a linearizability check of If-Match and a soak: Bosun's promises checked under fire (#16)."""
