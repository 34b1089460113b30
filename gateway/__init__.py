"""The gateway: HTTP API and NATS intent responder — the only doors users have into Bosun.

Rooms: `admission/` (every write, from either door, goes through its one path), `http/` (the API),
`intents/` (the NATS door); `server.py` runs both. Reads come from the projections' read model. The
CLI is `cli/`, a client of this API. Modules here import heavy dependencies (litestar, uvicorn, nats)
only where they need them, so `bosun --help` stays fast.
"""
