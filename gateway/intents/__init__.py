"""The NATS door: `bosun.intent.<kind>.<ns>.<name>` requests, admitted exactly as HTTP writes are."""
from gateway.intents.responder import Responder, reply_status

__all__ = ["Responder", "reply_status"]
