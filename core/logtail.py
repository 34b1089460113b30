"""The log-tail protocol: the gateway asks a driver, over core NATS, for the last lines a replica wrote.

Request/reply on `bosun.sys.logs.<driver>` (a driver answers only for replicas it runs, from the replica's
own stdout/stderr file; nothing else on its machine is ever read). Both sides share these types and
bounds, so a reply always fits a NATS message and a dashboard page.
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

PREFIX = "bosun.sys.logs"
MAX_LINES = 1000
MAX_LINE = 2000
"""Characters kept of one line (a replica printing megabytes without a newline is cut, not sent)."""
MAX_BYTES = 256 * 1024
"""Bytes read from the end of the file at most; the reply is smaller still (MAX_LINES x MAX_LINE worst case
is cut at MAX_REPLY)."""
MAX_REPLY = 128 * 1024
Name = Annotated[str, Meta(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]


def subject(driver: str) -> str:
    return f"{PREFIX}.{driver}"


class TailRequest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    kind: Name
    namespace: Name
    name: Name
    replica: Name
    lines: Annotated[int, Meta(ge=1, le=MAX_LINES)] = 100


class TailReply(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    found: bool
    """False: this driver has no log of that replica (it never ran here, or the driver keeps none)."""
    lines: list[str] = []
    truncated: bool = False
    """Older lines exist beyond what was sent (the file is longer than the lines or bytes asked)."""
    size: int = 0
    """The log file's size in bytes."""
    error: str = ""


def tail(data: bytes, lines: int, at_start: bool) -> tuple[list[str], bool]:
    """The last `lines` complete-or-final lines of `data` (the end of a file), each cut at MAX_LINE, and
    whether anything older was left out. `at_start`: `data` begins at the start of the file."""
    text = data.decode(errors="replace")
    split = text.split("\n")
    if split and split[-1] == "":
        split.pop()
    if not at_start and split:
        split.pop(0)  # read from the middle of a line: drop its partial start
    kept = split[-lines:]
    out: list[str] = []
    size = 0
    for line in reversed(kept):
        line = line.rstrip("\r")[:MAX_LINE]
        size += len(line) + 1
        if size > MAX_REPLY:
            break
        out.append(line)
    out.reverse()
    return out, len(out) < len(split) or not at_start
