"""The gateway: HTTP API, NATS intent responder and CLI — the only door users have into Bosun.

Writes go through `gateway.admission` (one path for HTTP and NATS); reads come from the projections'
read model. Modules here import heavy dependencies (litestar, uvicorn, nats) only where they need them,
so `bosun --help` stays fast.
"""
