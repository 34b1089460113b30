"""Engine metrics (prometheus-client) shared by every component, and the `--metrics-port` endpoint.

One registry per process (`REGISTRY`): a component process exposes it on `--metrics-port`; the gateway
appends it to its own `GET /metrics`. Names follow Prometheus conventions (`_total`, `_seconds`);
labels are bounded (kinds, results, components — never resource names, except the per-resource gauges
the gateway renders from the read model).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)
_log = structlog.get_logger("bosun.metrics")

# -- the log -----------------------------------------------------------------------------------------
APPEND_SECONDS = Histogram("bosun_log_append_duration_seconds", "Latency of appends to the log, by slice",
                           ["slice"], registry=REGISTRY,
                           buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
OCC_CONFLICTS = Counter("bosun_log_occ_conflicts_total",
                        "Appends refused by optimistic concurrency (expected last subject sequence)", ["slice"],
                        registry=REGISTRY)

# -- controller host ---------------------------------------------------------------------------------
RECONCILES = Counter("bosun_reconcile_total", "Reconciles (decide + durable appends), by kind and result",
                     ["kind", "result"], registry=REGISTRY)
RECONCILE_SECONDS = Histogram("bosun_reconcile_duration_seconds", "Reconcile duration, by kind and result",
                              ["kind", "result"], registry=REGISTRY,
                              buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
ACTORS_ACTIVE = Gauge("bosun_actors_active", "Actors in memory on this host", registry=REGISTRY)
ACTORS_PASSIVATED = Counter("bosun_actors_passivated_total", "Actors dropped from memory after idling",
                            registry=REGISTRY)
MAILBOX_DEPTH = Gauge("bosun_mailbox_depth", "Messages queued in actor mailboxes, not yet folded",
                      registry=REGISTRY)
IN_FLIGHT = Gauge("bosun_controller_in_flight_messages", "Delivered messages not yet acked by the host",
                  registry=REGISTRY)

# -- consumers (controller, driver, projector) -------------------------------------------------------
CONSUMER_PENDING = Gauge("bosun_consumer_pending_messages", "Messages in the stream not yet delivered",
                         ["consumer"], registry=REGISTRY)
CONSUMER_ACK_PENDING = Gauge("bosun_consumer_ack_pending_messages", "Delivered messages awaiting ack",
                             ["consumer"], registry=REGISTRY)
CONSUMER_REDELIVERED = Gauge("bosun_consumer_redelivered_messages", "Messages delivered more than once",
                             ["consumer"], registry=REGISTRY)

# -- projector / driver ------------------------------------------------------------------------------
PROJECTION_LAG = Gauge("bosun_projection_lag_messages", "Stream last sequence minus the read model checkpoint",
                       registry=REGISTRY)
PROJECTION_CHECKPOINT = Gauge("bosun_projection_checkpoint_seq", "Last stream sequence applied to the read model",
                              registry=REGISTRY)
PROJECTED = Counter("bosun_projection_messages_total", "Messages applied to the read model", registry=REGISTRY)
COMMANDS = Counter("bosun_driver_commands_total", "Commands applied by a data-plane driver, by type and outcome",
                   ["driver", "command", "outcome"], registry=REGISTRY)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


def serve_http(port: int | None, host: str = "0.0.0.0") -> int | None:
    """Expose REGISTRY on `port` (a daemon thread; 0 = any free port). Returns the bound port."""
    if port is None:
        return None
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    bound = int(server.server_address[1])
    _log.info("metrics endpoint listening", port=bound)
    return bound


def observe_consumer(name: str, info: Any) -> None:
    """Consumer gauges from a JetStream ConsumerInfo."""
    CONSUMER_PENDING.labels(name).set(info.num_pending or 0)
    CONSUMER_ACK_PENDING.labels(name).set(info.num_ack_pending or 0)
    CONSUMER_REDELIVERED.labels(name).set(info.num_redelivered or 0)


async def sample_every(seconds: float, sample: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run `sample` every `seconds` until `stop`; a failed sample is logged at debug and retried later."""
    while not stop.is_set():
        try:
            await sample()
        except Exception as e:  # noqa: BLE001 - metrics must never take a component down
            _log.debug("metrics sample failed", error=repr(e))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()

# -- failure isolation (actors/watchdog.py, actors/reconciler.py) ------------------------------------
RECONCILE_FAILURES = Counter("bosun_reconcile_failures_total",
                             "Failed reconcile steps, by kind and reason (exception, terminal, timeout, memory, crash)",
                             ["kind", "reason"], registry=REGISTRY)
QUARANTINED = Gauge("bosun_quarantined_resources", "Resources whose decisions are parked on this host",
                    registry=REGISTRY)
# -- poison values (core/numbers.py): set aside, never fatal ------------------------------------------
POISONED = Counter("bosun_quarantined_items_total",
                   "Undecodable stored rows or messages set aside (the component keeps serving), by component",
                   ["component", "what"], registry=REGISTRY)
