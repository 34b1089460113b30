"""NATS wire details the client library handles slowly on our hot path.

nats-py parses every delivered message's header block in pure Python (a generator per character of each
header name); with a dozen headers per Bosun message that was a tenth of the controller's and projector's
CPU. `parse_header_lines` returns the same dict (tests hold the two parsers to the same output).

It also writes every published message's header block a header at a time: a regex check of the name,
two strips, a translate and four buffer appends per header, ten headers per append (issue 27).
`header_block` writes the same bytes from names checked once and one join (tests hold the two to the same
bytes), and `faster_headers` makes a connection's publish use it.
"""
from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Any

from nats import errors
from nats.aio.client import Client as NATS
from nats.protocol.command import hpub_cmd, pub_cmd


def faster_headers(nc: NATS) -> None:
    """Make `nc` parse message headers with `parse_header_lines` and write them with `header_block` (same
    result, a fraction of the cost).

    Only this connection is affected (`core.log.connect` applies it to every component's).
    """
    if callable(getattr(nc, "_parse_header_lines", None)):
        nc._parse_header_lines = parse_header_lines  # type: ignore[method-assign]
    if callable(getattr(nc, "_send_publish", None)) and callable(getattr(nc, "_send_command", None)):
        nc._send_publish = types.MethodType(_send_publish, nc)  # type: ignore[method-assign]


async def _send_publish(nc: NATS, subject: str, reply: str, payload: bytes, payload_size: int,
                        headers: Mapping[str, Any] | None) -> None:
    """nats-py's `Client._send_publish` (2.16) with the header block from `header_block`."""
    if subject == "":
        raise errors.BadSubjectError
    if headers is None:
        command = pub_cmd(subject, reply, payload)
    else:
        command = hpub_cmd(subject, reply, header_block(headers), payload)
    nc.stats["out_msgs"] += 1
    nc.stats["out_bytes"] += payload_size
    await nc._send_command(command)
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""What the library accepts as a header name (an HTTP token)."""
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_KEYS_KEPT = 256
_keys: dict[str, str] = {}
"""Header name as given -> as written ("" for one the library skips): a dozen names recur."""


def header_block(headers: Mapping[str, Any]) -> bytes:
    """The header block nats-py 2.16 publishes for `headers`, byte for byte: `NATS/1.0`, then per header
    its stripped name (skipped when empty, BadHeaderError when not a token) and its stripped value with
    CR and LF as spaces, each line ended by CRLF, and an empty line."""
    lines = ["NATS/1.0\r\n"]
    for name, value in headers.items():
        key = _keys.get(name)
        if key is None:
            key = _checked(name)
        if not key:
            continue
        text = value.strip()
        if "\r" in text or "\n" in text:
            text = text.translate(_NEWLINES)
        lines.append(f"{key}: {text}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


def _checked(name: str) -> str:
    key = name.strip()
    if key and not _TOKEN.fullmatch(key):
        raise errors.BadHeaderError(key)
    if len(_keys) < _KEYS_KEPT:
        _keys[name] = key
    return key


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
