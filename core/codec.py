"""Encoding and decoding event bodies, with the upcaster path for older schema versions.

Encoders and decoders are built once. A body whose `Bosun-Schema` header is older than its type's
current `version` is decoded to a dict, passed through the registered upcasters in order, then converted.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Union, get_args, get_origin

import msgspec
from immutables import Map

from core import headers as H
from core.events import Event, tag_of
from core.kinds import KindInfo
from core.replicas import COMMANDS, Command

_encoder = msgspec.json.Encoder()
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(tag: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register `fn` to turn a `tag` body of `from_version` into `from_version + 1`."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(tag, from_version)] = fn
        return fn

    return register


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def encode_json(value: Any) -> bytes:
    return _encoder.encode(value)


def event_headers(event: Event, now: float, **extra: str) -> dict[str, str]:
    """The standard headers of an event: type, schema version, event time, plus `extra`."""
    hdrs = {H.TYPE: tag_of(type(event)), H.SCHEMA: str(type(event).version), H.TIME: repr(now)}
    hdrs.update(extra)
    return hdrs


_commands = msgspec.json.Decoder(Union[COMMANDS])  # noqa: UP007 - built from a tuple


def decode_command(data: bytes, hdrs: Mapping[str, str] | None = None) -> Command:
    """Decode a data-plane command without the kind registry: drivers depend on core alone."""
    return _commands.decode(data)  # type: ignore[no-any-return]


def decode(kind: KindInfo, data: bytes, hdrs: Mapping[str, str] | None = None) -> Event:
    """Decode a body of `kind`'s event union, upcasting it first when its schema version is old."""
    version = int((hdrs or {}).get(H.SCHEMA, "0") or 0)
    if version:
        tag = (hdrs or {}).get(H.TYPE, "")
        if (tag, version) in _UPCASTERS:
            body: dict[str, Any] = msgspec.json.decode(data)
            while (tag, version) in _UPCASTERS:
                body = _UPCASTERS[(tag, version)](body)
                version += 1
            return msgspec.convert(body, kind.decoder.type)  # type: ignore[no-any-return]
    return kind.decoder.decode(data)  # type: ignore[no-any-return]


# -- actor state: msgspec Structs that may hold persistent maps (immutables.Map) ------------------------

def _enc_state(obj: Any) -> Any:
    if isinstance(obj, Map):
        return dict(obj)
    raise NotImplementedError(type(obj))


def _dec_state(type_: Any, obj: Any) -> Any:
    """A persistent map from its JSON object, its values decoded as their declared type (a map of Structs,
    e.g. a node pool's slots, must not come back as a map of dicts)."""
    if (get_origin(type_) or type_) is Map and isinstance(obj, dict):
        args = get_args(type_)
        if len(args) == 2:
            return Map(msgspec.convert(obj, dict[args[0], args[1]], dec_hook=_dec_state))  # type: ignore[valid-type]
        return Map(obj)
    raise NotImplementedError(type_)


state_encoder = msgspec.json.Encoder(enc_hook=_enc_state)


def decode_state(data: bytes, type_: Any) -> Any:
    """An actor state from its snapshot. A snapshot of an older layout is mapped by the type's `upgrade`
    (e.g. `actors.kind.Resource.upgrade`: kinds that kept their lifecycle fields inline) when it has one."""
    try:
        return msgspec.json.decode(data, type=type_, dec_hook=_dec_state)
    except msgspec.ValidationError:
        upgrade = getattr(type_, "upgrade", None)
        if upgrade is None:
            raise
        return msgspec.convert(upgrade(msgspec.json.decode(data)), type_, dec_hook=_dec_state)


def state_to_builtins(state: Any) -> Any:
    """An actor state as plain JSON-able data (replay diffs, bundles), as its type presents it (`shown`:
    `actors.kind.Resource` shows a kind's fields beside its lifecycle, as kinds always kept them)."""
    out = msgspec.to_builtins(state, enc_hook=_enc_state)
    shown = getattr(type(state), "shown", None)
    return shown(out) if shown is not None else out
