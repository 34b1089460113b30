"""The HTTP API: the ASGI app (writes answered by a thin route, the rest by Litestar), its routes, and
the reads they serve (read model, time travel, replay bundles)."""
