"""The dashboard: static files served by the gateway at `/ui/` (no separate server, no build step)."""
