"""NATS wire details the client library handles slowly on our hot path.

nats-py parses every delivered message's header block in pure Python (a generator per character of each
header name); with a dozen headers per Bosun message that was a tenth of the controller's and projector's
CPU. `parse_header_lines` returns the same dict (tests hold the two parsers to the same output).
"""
from __future__ import annotations

import re

from nats.aio.client import Client as NATS


def faster_headers(nc: NATS) -> None:
    """Make `nc` parse message headers with `parse_header_lines` (same result, a fraction of the cost).

    Only this connection is affected (`core.log.connect` applies it to every component's).
    """
    if callable(getattr(nc, "_parse_header_lines", None)):
        nc._parse_header_lines = parse_header_lines  # type: ignore[method-assign]


_WHITESPACE = re.compile(r"\s")
"""What `str.isspace` calls whitespace (both use the Unicode database's definition)."""
_NAMES_KEPT = 256
_names: dict[bytes, str | None] = {}
"""Raw header name -> parsed name, or None when the library would skip the line: a few names recur."""


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """nats-py's `Client._parse_header_lines` (2.16): the same dict, with each distinct header name checked
    once (by a regex instead of a generator per character) and remembered."""
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = _names[name]
        except KeyError:
            key = _header_name(name)
            if len(_names) < _NAMES_KEPT:
                _names[name] = key
        if key is not None:
            out[key] = value.strip().decode("utf-8", "replace")
    return out


def _header_name(name: bytes) -> str | None:
    try:
        key = name.strip().decode("ascii")
    except UnicodeDecodeError:
        return None
    return None if _WHITESPACE.search(key) is not None else key  # header names are tokens
