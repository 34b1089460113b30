"""Prometheus metrics of the gateway, on a registry of its own (tests may build many apps per process)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

ADMISSIONS = Counter("bosun_gateway_admission_decisions_total", "Admission decisions by action and result",
                     ["action", "result"], registry=REGISTRY)
REQUESTS = Histogram("bosun_gateway_request_duration_seconds", "HTTP request latency",
                     ["method", "route", "status"], registry=REGISTRY)
APPENDS = Histogram("bosun_gateway_append_duration_seconds", "Latency of spec appends to the log",
                    registry=REGISTRY)
INTENTS = Counter("bosun_gateway_intents_total", "NATS intents handled, by HTTP-equivalent status",
                  ["status"], registry=REGISTRY)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
