"""The subject layout of the BOSUN stream (docs/design.md, "The log"): builders and the one parser."""
from __future__ import annotations

from typing import NamedTuple

from core.names import Ref

STREAM = "BOSUN"
EVENTS = "bosun.ev.>"
COMMANDS = "bosun.cmd.>"
INTENTS = "bosun.intent.>"
AUDIT = "bosun.audit.>"
SPEC, OBS, INBOX, CMD = "spec", "obs", "inbox", "cmd"


def spec(ref: Ref) -> str:
    return f"bosun.ev.{ref.token}.spec"


def ctl(ref: Ref, controller: str) -> str:
    return f"bosun.ev.{ref.token}.ctl.{controller}"


def obs(ref: Ref) -> str:
    return f"bosun.ev.{ref.token}.obs"


def inbox(ref: Ref) -> str:
    return f"bosun.ev.{ref.token}.inbox"


def cmd(driver: str, ref: Ref) -> str:
    return f"bosun.cmd.{driver}.{ref.token}"


def audit(namespace: str) -> str:
    """Admission decisions about `namespace` (never a resource's own subjects)."""
    return f"bosun.audit.{namespace}"


def resource_events(ref: Ref) -> str:
    """Every event slice of one resource (not its commands)."""
    return f"bosun.ev.{ref.token}.>"


def driver_commands(driver: str) -> str:
    return f"bosun.cmd.{driver}.>"


class Parsed(NamedTuple):
    ref: Ref
    slice: str  # "spec", "ctl.<controller>", "obs", "inbox" or "cmd"
    driver: str | None = None


def parse(subject: str) -> Parsed:
    """Split a stream subject into resource and slice; raises ValueError on anything foreign."""
    parts = subject.split(".")
    if len(parts) >= 6 and parts[0] == "bosun" and parts[1] == "ev":
        return Parsed(Ref(parts[2], parts[3], parts[4]), ".".join(parts[5:]))
    if len(parts) == 6 and parts[0] == "bosun" and parts[1] == "cmd":
        return Parsed(Ref(parts[3], parts[4], parts[5]), CMD, parts[2])
    raise ValueError(f"not a Bosun stream subject: {subject!r}")
